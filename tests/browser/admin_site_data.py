"""A realistic admin to look at: a published playbook and a wide draft (many signals with long conditions, branch
options, triggers that wait, remind and call webhooks), learners who produced events, decisions, flags and
reminders through the real services, and a row in each table an admin edits."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from delivery.models import DeliveryPolicy, WebhookEndpoint
from identity.models import IdentitySource, SourceLink, SyncRun
from identity.services import learner_create, role_upsert
from insights.models import Experiment, ExperimentArm, Survey
from playbooks.models import ContentModule
from playbooks.services import playbook_import
from signals_app.models import CohortRun, FlagRoute, Quarantine
from signals_app.services import events_ingest, learner_evaluate_pending
from signals_app.services.cohorts import cohort_run_execute
from tests.factories import api_key
from tests.playbooks.engine.replay import SCENARIOS

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
PLAYBOOK = (SCENARIOS / "support-specialist" / "playbook.yaml").read_text()
PAGES = ("api-overview", "api-authentication", "api-first-request", "api-rate-limits", "api-webhooks")
WIDE_SIGNALS = "\n".join(
    f"  {page.replace('-', '_')}_views_14d: {{event: page_view, aggregate: count, window: 14d, "
    f'where: \'event.properties.page == "{page}" and event.properties.referrer != "search-results-page"\'}}'
    for page in PAGES
) + (
    "\n  ticket_minutes_avg: {event: ticket_resolved, aggregate: avg, property: minutes, window: 30d,"
    ' where: \'event.properties.priority == "high" or event.properties.priority == "urgent"\'}'
    "\n  api_funnel:\n    sequence:\n"
    + "".join(f"      - {{event: page_view, where: 'event.properties.page == \"{page}\"'}}\n" for page in PAGES[:3])
    + "    within: 30m"
)
WIDE_TRIGGERS = """
  - name: lab exit follow-up with a long descriptive name for the team
    when: 'event.type == "module_exited" and event.module == "product-tour" and api_overview_views_14d >= 2'
    then:
      - wait:
          event: module_started
          key: module
          within: 2m
          then: [{flag: came_back_to_the_product_tour_quickly}]
          else:
            - remind: {channel: email, fallback: slack, template: product_tour_pick_up, attach_module: remedial-demo}
    limit: {per_learner: 3, per: 24h}
    cooldown: 1h
  - name: stuck learner to HR
    when: 'skip_streak >= 4 and ticket_minutes_avg > 45'
    then:
      - {webhook: {endpoint: hr-system, event: onboarding.learner_stuck}}
      - {unlock_module: escalation-prep}
      - {goto: escalation}
"""


def wide_playbook() -> str:
    """The support-specialist playbook with the signals and triggers a grown playbook has."""
    text = PLAYBOOK.replace(
        "  tickets_7d: {event: ticket_submitted, aggregate: count, window: 7d}",
        "  tickets_7d: {event: ticket_submitted, aggregate: count, window: 7d}\n" + WIDE_SIGNALS,
    )
    return text.rstrip() + WIDE_TRIGGERS


def site_load() -> dict:
    published = playbook_import(text=PLAYBOOK, publish=True).version
    WebhookEndpoint.objects.create(name="hr-system", url="https://hr.example.com/hooks/onboarding", secret="s" * 32)
    draft = playbook_import(text=wide_playbook()).version
    role = role_upsert(slug="support_specialist", name="Technical support specialist")
    learners = [
        learner_create(
            external_id=f"employee-{n:05d}@people.example-corporation.com",
            roles=[role],
            attributes={"api_access": True, "department": "Customer support, EMEA second line"},
            display_name=f"Alexandra Konstantinopoulou-Vanderbilt {n}",
        )
        for n in range(3)
    ]
    for learner in learners:
        _journey(learner.external_id)
        learner_evaluate_pending(learner_id=learner.pk)
    Quarantine.objects.create(learner=learners[2], error="Traceback (most recent call last): " + "x" * 400)
    FlagRoute.objects.create(name="supervisor_review")
    source = IdentitySource.objects.create(name="hr-directory", kind="file")
    SyncRun.objects.create(source=source, started_at=timezone.now(), counts={"created": 3, "updated": 120})
    SourceLink.objects.create(source=source, learner=learners[0], remote_id="E-00001", last_seen_at=timezone.now())
    api_key("events:write", "learners:read")
    module = ContentModule.objects.get(slug="welcome")
    Survey.objects.create(module=module, question="How useful was this module for your first week in support?")
    experiment = Experiment.objects.create(playbook=published.playbook, name="Specialist track thresholds")
    ExperimentArm.objects.create(experiment=experiment, version=published, weight=50)
    ExperimentArm.objects.create(experiment=experiment, version=draft, weight=50)
    # An arm with parameter values: its label is the longest the results page shows (layout data, not validated).
    values = {"specialist_track_threshold": 60, "offer_specialist_track": False}
    ExperimentArm.objects.create(experiment=experiment, version=published, parameters=values, weight=50)
    DeliveryPolicy.objects.get_or_create()
    run = CohortRun.objects.create(version=draft, against=published, template=COHORT, learners=10, total=20)
    cohort_run_execute(run_id=run.pk)
    return {"published": published, "draft": draft, "source": source, "experiment": experiment, "run": run}


COHORT = """seed: 2
learner: {external_id: c, roles: [support_specialist], attributes: {api_access: true}}
start: '2026-03-02T09:00:00Z'
events:
  - at: 0m
    type: module_completed
    module: welcome
    properties:
      duration_seconds: {between: [20, 200]}
until: 1d
"""


def _journey(external_id: str) -> None:
    modules = ("welcome", "crm-basics", "ticketing-101", "product-tour")
    events = [
        {
            "id": f"{external_id}-{n}",
            "learner": external_id,
            "type": "module_completed" if n == 0 else "module_skipped",
            "module": module,
            "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
            "properties": {"duration_seconds": 20} if n == 0 else {},
        }
        for n, module in enumerate(modules)
    ]
    events_ingest(body={"events": events}, source="key:1", now=T0 + timedelta(days=1))
