import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from identity.services import learner_create, role_upsert
from playbooks import selectors
from playbooks.admin.editors import ACTION_FIELDS
from playbooks.engine.document import branch_document
from playbooks.engine.spec import ACTIONS
from playbooks.models import Playbook, PlaybookVersion, Step, Trigger, VersionStatus
from playbooks.services import draft_create, learner_enroll, playbook_import
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

PLAYBOOK = (SCENARIOS / "support-specialist" / "playbook.yaml").read_text()
IMPORT = reverse("admin:playbooks_playbook_import")


def _inline(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": len(rows),
        f"{prefix}-INITIAL_FORMS": initial,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def test_admin_imports_and_publishes_a_file(admin_client):
    upload = SimpleUploadedFile("p.yaml", PLAYBOOK.encode())

    response = admin_client.post(IMPORT, {"file": upload, "publish": "on"})

    version = PlaybookVersion.objects.get()
    assert response.status_code == 302 and version.status == VersionStatus.PUBLISHED


def test_admin_import_of_a_bad_file_lists_the_problems_and_writes_nothing(admin_client):
    upload = SimpleUploadedFile("p.yaml", PLAYBOOK.replace("skips >= 3'", "skipz >= 3'").encode())

    response = admin_client.post(IMPORT, {"file": upload})

    assert response.status_code == 200
    assert "unknown name &#x27;skipz&#x27; at column 29; did you mean &#x27;skips&#x27;?" in response.text
    assert not Playbook.objects.exists()


def test_staff_without_permission_cannot_import(client, staff_without_permission):
    client.force_login(staff_without_permission)

    assert client.get(IMPORT).status_code == 403


def test_a_published_version_is_read_only(admin_client):
    version = playbook_import(text=PLAYBOOK, publish=True).version
    url = reverse("admin:playbooks_playbookversion_change", args=[version.pk])

    page = admin_client.get(url)

    assert page.status_code == 200 and 'name="_save"' not in page.text
    assert admin_client.post(url, {"audience_when": "skips > 1"}).status_code == 403


def _draft_form(version: PlaybookVersion, triggers: list[dict]) -> dict:
    steps = list(version.steps.all())
    data = {
        "audience_roles": [r.pk for r in version.audience_roles.all()],
        "audience_when": "",
        "on_audience_exit": version.on_audience_exit,
        "priority": str(version.priority),
        "tests": "[]",
        "frequency_cap_max": "",
        "frequency_cap_per": "",
        "quiet_hours_start": "",
        "quiet_hours_end": "",
    }
    data |= _inline(
        "signals",
        [
            {
                "id": s.pk,
                "version": version.pk,
                "position": s.position,
                "name": s.name,
                "event": s.event,
                "aggregate": s.aggregate,
                "property": "",
                "window": s.window,
                "where": "",
            }
            for s in version.signals.all()
        ],
        initial=version.signals.count(),
    )
    data |= _inline(
        "steps",
        [
            {
                "id": s.pk,
                "version": version.pk,
                "position": s.position,
                "step_id": s.step_id,
                "module": s.module_id or "",
                "branch": json.dumps(branch_document(selectors.step_branch(step=s))),
                "tags": json.dumps(s.tags),
                "due_after": s.due_after,
                "due_from": s.due_from,
                **({"readiness": "on"} if s.readiness else {}),
            }
            for s in steps
        ],
        initial=len(steps),
    )
    data |= _inline("triggers", triggers, initial=sum(1 for t in triggers if "id" in t))
    return data


def _trigger_rows(draft: PlaybookVersion, actions: str | None = None) -> list[dict]:
    """The draft's triggers as the admin form posts them (``actions`` overrides every trigger's JSON)."""
    return [
        {
            "id": t.pk,
            "version": draft.pk,
            "position": t.position,
            "name": t.name,
            "when": t.when,
            "actions": actions or json.dumps(t.actions),
            "limit_per_learner": t.limit_per_learner or "",
        }
        for t in draft.triggers.all()
    ]


def test_a_trigger_with_an_unknown_name_shows_the_message_on_its_field(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    triggers = _trigger_rows(draft)
    triggers[1]["when"] = "skip_streek >= 3"

    response = admin_client.post(
        reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), _draft_form(draft, triggers)
    )

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][2].formset.forms[1].errors["when"]
    assert "unknown name &#x27;skip_streek&#x27; at column 1; did you mean &#x27;skip_streak&#x27;?" in str(errors)
    assert Trigger.objects.get(version=draft, name="skip streak review").when == "skip_streak >= 3"


def test_a_trigger_action_naming_an_unknown_module_is_refused(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    triggers = _trigger_rows(draft, actions='[{"insert_module": "remedial-dem"}]')

    response = admin_client.post(
        reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), _draft_form(draft, triggers)
    )

    errors = response.context["inline_admin_formsets"][2].formset.forms[0].errors["actions"]
    assert "unknown module &#x27;remedial-dem&#x27;; did you mean &#x27;remedial-demo&#x27;?" in str(errors)


def test_publish_action_refuses_a_draft_with_problems(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    Step.objects.filter(version=draft, step_id="escalation").first().options.filter(when="").delete()

    response = admin_client.post(
        reverse("admin:playbooks_playbookversion_changelist"),
        {"action": "publish", "_selected_action": [draft.pk]},
        follow=True,
    )

    assert "was not published: steps[5].branch: a branch needs a final" in response.text
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT


def test_diff_between_versions_shows_the_changed_lines(admin_client):
    v1 = playbook_import(text=PLAYBOOK, publish=True).version
    v2 = playbook_import(text=PLAYBOOK.replace("tickets_7d >= 14", "tickets_7d >= 10"), publish=True).version

    response = admin_client.get(reverse("admin:playbooks_playbookversion_diff", args=[v1.pk, v2.pk]))

    assert "-  - when: attributes.api_access == true and tickets_7d &gt;= 14" in response.text
    assert "+  - when: attributes.api_access == true and tickets_7d &gt;= 10" in response.text


def test_history_records_who_published(admin_client, admin_user):
    playbook_import(text=PLAYBOOK)
    draft = PlaybookVersion.objects.get()

    admin_client.post(
        reverse("admin:playbooks_playbookversion_changelist"), {"action": "publish", "_selected_action": [draft.pk]}
    )

    history = admin_client.get(reverse("admin:playbooks_playbookversion_history", args=[draft.pk]))
    assert history.status_code == 200 and admin_user.username in history.text


def test_why_this_module_shows_the_rule_and_values(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    learner = learner_create(external_id="ada", roles=[role_upsert(slug="support_specialist", name="S")])
    enrollment = learner_enroll(learner=learner)[0]

    page = admin_client.get(reverse("admin:playbooks_enrollment_change", args=[enrollment.pk]))

    assert page.status_code == 200
    assert "Step 1 of 6 of the playbook." in page.text and "welcome" in page.text


def test_a_duplicate_step_id_is_shown_on_the_step(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    form = _draft_form(draft, _trigger_rows(draft))
    form["steps-5-step_id"] = "specialist-track"

    response = admin_client.post(reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), form)

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][1].formset.forms[5].errors["step_id"]
    assert "duplicate step id &#x27;specialist-track&#x27;" in str(errors)


def test_a_goto_cycle_is_listed_among_the_problems_of_the_draft(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    option = Step.objects.get(version=draft, step_id="escalation").options.get(position=0)
    option.module, option.goto = None, "specialist-track"
    option.save()

    page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[draft.pk]))

    assert "steps[5].branch[0].goto</code>: a cycle of gotos: &#x27;specialist-track&#x27; leads back here" in page.text


FAST_SKIPPER_TEST = """
- name: fast skipper
  journey:
    learner: {external_id: sim-1, roles: [support_specialist], attributes: {api_access: true}}
    start: '2026-03-02T09:00:00Z'
    events:
      - {at: 0m, type: module_completed, module: welcome, properties: {duration_seconds: 50}}
      - {at: 2m, type: module_skipped, module: MODULE}
    until: 1h
    expect:
      - {at: 1m, next_module: crm-basics}
"""


def test_saved_journeys_are_edited_as_yaml_on_the_draft(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    form = _draft_form(draft, _trigger_rows(draft)) | {"tests": FAST_SKIPPER_TEST.replace("MODULE", "crm-basics")}

    response = admin_client.post(reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), form)

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.tests[0]["name"] == "fast skipper"
    assert draft.tests[0]["journey"]["events"][1] == {"at": "2m", "type": "module_skipped", "module": "crm-basics"}
    page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[draft.pk])).text
    assert "name: fast skipper" in page  # shown back as YAML


def test_a_saved_journey_naming_an_unknown_module_is_refused_on_the_field(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    form = _draft_form(draft, _trigger_rows(draft)) | {"tests": FAST_SKIPPER_TEST.replace("MODULE", "crm-basic")}

    response = admin_client.post(reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), form)

    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors["tests"])
    assert "tests[0].journey.events[1].module: unknown module &#x27;crm-basic&#x27;" in errors
    draft.refresh_from_db()
    assert draft.tests == []


def test_the_steps_heading_reads_steps(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())

    page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[draft.pk])).content.decode()

    assert re.search(r'id="steps-heading" class="inline-heading">\s*Steps\s*</h2>', page)
    assert "OPTIONS)S" not in page.upper()


def test_a_draft_without_problems_says_so_in_a_sentence(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())

    page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[draft.pk])).content.decode()

    assert "No problems: this draft can be published." in page and "None:" not in page


def test_a_draft_with_errors_in_the_form_does_not_claim_it_can_be_published(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    triggers = _trigger_rows(draft)
    triggers[1]["when"] = "skip_streek >= 3"

    response = admin_client.post(
        reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), _draft_form(draft, triggers)
    )

    page = response.content.decode()
    assert "Please correct the error below." in page
    assert "can be published" not in page
    assert "Checked again once the errors below are corrected and the draft is saved." in page


def test_starting_a_draft_links_to_it(admin_client):
    playbook = playbook_import(text=PLAYBOOK, publish=True).version.playbook

    response = admin_client.post(
        reverse("admin:playbooks_playbook_changelist"),
        {"action": "start_draft", "_selected_action": [playbook.pk]},
        follow=True,
    )

    draft = playbook.versions.get(status=VersionStatus.DRAFT)
    url = reverse("admin:playbooks_playbookversion_change", args=[draft.pk])
    assert f'<a href="{url}">support-specialist v2 (Draft)</a> is ready to edit' in response.content.decode()


def test_publishing_links_to_the_published_version(admin_client):
    playbook_import(text=PLAYBOOK)
    draft = PlaybookVersion.objects.get()

    response = admin_client.post(
        reverse("admin:playbooks_playbookversion_changelist"),
        {"action": "publish", "_selected_action": [draft.pk]},
        follow=True,
    )

    url = reverse("admin:playbooks_playbookversion_change", args=[draft.pk])
    assert f'<a href="{url}">support-specialist v1 (Published)</a> is published' in response.content.decode()


def test_importing_says_what_was_made_with_a_link(admin_client):
    upload = SimpleUploadedFile("p.yaml", PLAYBOOK.encode())

    response = admin_client.post(IMPORT, {"file": upload}, follow=True)

    version = PlaybookVersion.objects.get()
    url = reverse("admin:playbooks_playbookversion_change", args=[version.pk])
    page = response.content.decode()
    assert f'Imported <a href="{url}">support-specialist v1 (Draft)</a>: 6 steps, 2 triggers, 1 signal.' in page


def _post_branch(admin_client, draft: PlaybookVersion, step_id: str, options: list) -> tuple:
    """The draft's page posted with ``options`` as the branch of step ``step_id``: the response and that row's form."""
    form = _draft_form(draft, _trigger_rows(draft))
    index = [s.step_id for s in draft.steps.all()].index(step_id)
    form[f"steps-{index}-branch"] = json.dumps(options)
    response = admin_client.post(reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), form)
    step_forms = response.context["inline_admin_formsets"][1].formset.forms if response.status_code == 200 else []
    return response, step_forms[index] if step_forms else None


def test_branch_options_are_edited_in_the_step_row_and_the_draft_runs_them_next(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    before = selectors.compiled_version(version=PlaybookVersion.objects.get(pk=draft.pk))  # cached in this process
    options = [
        {"when": "avg_module_seconds < 30 and skips >= 3", "module": "advanced-debugging"},
        {"when": "avg_module_seconds >= 120", "goto": "escalation"},
        {"otherwise": "standard-api-troubleshooting"},
    ]

    response, _ = _post_branch(admin_client, draft, "specialist-track", options)

    assert response.status_code == 302
    step = Step.objects.get(version=draft, step_id="specialist-track")
    assert [(o.when, o.module.slug if o.module else o.goto) for o in step.options.all()] == [
        ("avg_module_seconds < 30 and skips >= 3", "advanced-debugging"),
        ("avg_module_seconds >= 120", "escalation"),
        ("", "standard-api-troubleshooting"),
    ]
    after = selectors.compiled_version(version=PlaybookVersion.objects.get(pk=draft.pk))  # as the Simulate page does
    index = draft.steps.filter(position__lt=step.position).count()
    assert before.options[(index, 0)].expression == "avg_module_seconds < 90 and skips >= 3"
    assert after.options[(index, 0)].expression == "avg_module_seconds < 30 and skips >= 3"


def test_a_branch_without_otherwise_is_refused_on_its_row_and_nothing_is_written(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    options = [{"when": "attributes.api_access == true and tickets_7d >= 14", "module": "escalation-prep"}]

    response, row = _post_branch(admin_client, draft, "escalation", options)

    assert response.status_code == 200
    assert "branch: a branch needs a final &#x27;otherwise&#x27; option" in str(row.errors["branch"])
    assert Step.objects.get(version=draft, step_id="escalation").options.count() == 2


def test_a_typo_in_a_branch_condition_is_the_only_error_shown(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    options = [
        {"when": "avg_module_secnds < 90", "module": "advanced-debugging"},
        {"otherwise": "standard-api-troubleshooting"},
    ]

    response, row = _post_branch(admin_client, draft, "specialist-track", options)

    errors = str(row.errors["branch"])
    assert "branch[0].when: unknown name &#x27;avg_module_secnds&#x27;" in errors
    assert "never reached" not in response.content.decode()


def test_a_branch_option_naming_an_unknown_module_or_a_shape_error_names_the_option(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())

    _, unknown = _post_branch(
        admin_client,
        draft,
        "escalation",
        [{"when": "skips > 1", "module": "escalation-prepp"}, {"otherwise": "welcome"}],
    )
    _, both = _post_branch(
        admin_client, draft, "escalation", [{"when": "skips > 1", "module": "welcome", "goto": "escalation"}]
    )

    assert "branch[0].module: unknown module &#x27;escalation-prepp&#x27;" in str(unknown.errors["branch"])
    assert "branch[0]: an option leads to exactly one of &#x27;module&#x27; or &#x27;goto&#x27;" in str(
        both.errors["branch"]
    )


def test_the_action_editor_offers_every_action_of_the_playbook_format():
    assert list(ACTION_FIELDS) == list(ACTIONS)


def test_a_published_versions_branch_options_are_shown_in_its_step_rows(admin_client):
    version = playbook_import(text=PLAYBOOK, publish=True).version

    page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[version.pk])).content.decode()

    assert "avg_module_seconds &lt; 90 and skips &gt;= 3 → advanced-debugging" in page
    assert "otherwise → policy-compliance" in page


def test_a_steps_due_time_and_readiness_are_edited_in_its_row_and_checked(admin_client):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    url = reverse("admin:playbooks_playbookversion_change", args=[draft.pk])
    form = _draft_form(draft, _trigger_rows(draft))

    refused = admin_client.post(url, form | {"steps-0-due_after": "3 days", "steps-0-due_from": "enrolled"})
    errors = refused.context["inline_admin_formsets"][1].formset.forms[0].errors
    assert "due_after" in errors and "&#x27;enrolled&#x27; is not a choice" in str(errors["due_from"])

    admin_client.post(
        url, form | {"steps-0-due_after": "3d", "steps-0-due_from": "enrolment", "steps-0-readiness": "on"}
    )
    first = selectors.version_spec(version=draft).steps[0]
    assert (first.due.after, first.due.anchor, first.readiness) == ("3d", "enrolment", True)
