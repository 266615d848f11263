"""A flag routed to managers reaches the flagged learner's manager through the outbox: by e-mail (and on their page
when e-mail cannot reach them) if they are a learner here, by e-mail alone if the directory gives only an address;
an unrouted flag or a learner without a manager tells no one but the staff list."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from delivery.models import Message, MessageKind
from delivery.services import messages_deliver_due
from identity.services import learner_create, role_upsert
from playbooks.services import learners_reroute, playbook_import
from signals_app.models import Flag, FlagRoute
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.factories import LearnerFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
PLAYBOOK = """
slug: basics
name: Support basics
audience: {roles: [newcomer]}
modules: [{slug: intro, title: Intro}, {slug: tools, title: Tools}, {slug: wrap, title: Wrap-up}]
steps: [{module: intro}, {module: tools}, {module: wrap}]
triggers:
  - {name: repeated skips, when: skips >= 2, then: [{flag: repeated_skips}]}
"""


def _skipper(manager: str | None) -> None:
    """Ada skips twice: the playbook flags her."""
    playbook_import(text=PLAYBOOK, publish=True)
    attributes = {"manager": manager} if manager else {}
    ada = learner_create(
        external_id="ada", display_name="Ada", attributes=attributes, roles=[role_upsert(slug="newcomer", name="N")]
    )
    learners_reroute(learner_ids=[ada.pk], now=T0)
    for number, module in enumerate(["intro", "tools"], start=1):
        at = T0 + timedelta(minutes=number)
        body = {"id": f"s{number}", "learner": "ada", "type": "module_skipped", "module": module}
        events_ingest(body={**body, "occurred_at": at.isoformat()}, source="key:1", now=at)
        learner_evaluate_pending(learner_id=ada.pk, now=at)
    assert Flag.objects.get().name == "repeated_skips"


def test_a_routed_flag_is_mailed_to_a_manager_who_is_a_learner():
    mia = LearnerFactory(external_id="mia", email="mia@example.com", display_name="Mia", user=UserFactory())
    FlagRoute.objects.create(name="repeated_skips")
    _skipper("mia")

    notice = Message.objects.get(kind=MessageKind.NOTICE)
    assert (notice.learner, notice.channels) == (mia, ["email", "in_app"])
    report = messages_deliver_due(now=T0 + timedelta(minutes=5))

    assert report.sent == 1
    [email] = mail.outbox
    assert email.to == ["mia@example.com"]
    assert email.subject == "Ada needs your attention: repeated skips"
    assert "Support basics" in email.body and "/learn/team" in email.body and "Hello Mia" in email.body


def test_a_manager_known_only_by_address_is_mailed_there():
    FlagRoute.objects.create(name="repeated_skips")
    _skipper("boss@partner.example")

    messages_deliver_due(now=T0 + timedelta(minutes=5))

    [email] = mail.outbox
    assert email.to == ["boss@partner.example"] and "/learn/team" not in email.body


def test_a_manager_without_email_sees_it_on_their_page(client):
    mia = LearnerFactory(external_id="mia", email="", user=UserFactory(username="mia"))
    FlagRoute.objects.create(name="repeated_skips")
    _skipper("mia")

    messages_deliver_due(now=T0 + timedelta(minutes=5))

    assert mail.outbox == []
    client.force_login(mia.user)
    page = client.get("/learn/").content.decode()
    assert "Ada needs your attention: repeated skips" in page and "See your team" in page


@pytest.mark.parametrize(
    ("route", "manager"),
    [(None, "mia"), ("another_flag", "mia"), ("repeated_skips", None), ("repeated_skips", "nobody here")],
)
def test_no_notice_without_a_route_or_a_reachable_manager(route, manager):
    LearnerFactory(external_id="mia", email="mia@example.com")
    if route:
        FlagRoute.objects.create(name=route)
    _skipper(manager)

    assert not Message.objects.filter(kind=MessageKind.NOTICE).exists()


def test_a_route_for_another_playbook_does_not_apply():
    LearnerFactory(external_id="mia", email="mia@example.com")
    other = playbook_import(text=PLAYBOOK.replace("slug: basics", "slug: other"), publish=False).version.playbook
    FlagRoute.objects.create(name="repeated_skips", playbook=other)
    _skipper("mia")

    assert not Message.objects.filter(kind=MessageKind.NOTICE).exists()
