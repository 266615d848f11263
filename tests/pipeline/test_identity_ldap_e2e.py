"""End to end, on the real slapd, Redis, PostgreSQL and a Celery worker: the nightly sync of an LDAP source (sent by
name with its schedule's arguments, as beat sends it) enrols a person added to a group, who reads their first module
from the API; moved to another group, they are served the other playbook's module; removed from the directory, they
are deactivated and their waiting reminder is cancelled, not sent."""

import json

import pytest
from celery import current_app
from django.test import Client
from django.utils import timezone

from delivery.models import Message, MessageStatus
from identity.models import AttributeMapping, IdentitySource, Learner, Role, RoleRule
from identity.services.sources import source_schedule
from playbooks.services import playbook_import
from tests.factories import api_key
from tests.identity.ldap.conftest import directory, ldap_server  # noqa: F401  (the fixtures)
from tests.pipeline.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def playbook(slug: str, role: str) -> str:
    """Two modules for ``role``; skipping one schedules an e-mail reminder two hours later."""
    return f"""
slug: {slug}
name: {slug.title()}
audience: {{roles: [{role}]}}
modules: [{{slug: {slug}-1, title: {slug.title()} one}}, {{slug: {slug}-2, title: {slug.title()} two}}]
steps: [{{module: {slug}-1}}, {{module: {slug}-2}}]
triggers:
  - name: skipped
    when: skips >= 1
    then: [{{remind: {{channel: email, template: drop_off, delay: 2h}}}}]
"""


@pytest.fixture
def source(directory) -> IdentitySource:  # noqa: F811
    source = IdentitySource.objects.create(
        name="corp-ldap",
        kind="ldap",
        settings=directory.settings(),
        secret_env="ONBOARDING_TEST_LDAP_BIND_PASSWORD",  # the worker reads it from its environment too
        external_id_from="employeeNumber",
        grace_period="0",  # gone from the directory: deactivated by the same run
        schedule="0 3 * * *",
    )
    AttributeMapping.objects.create(source=source, position=0, source_attribute="mail", target="email")
    for position, group in enumerate(("support", "sales")):
        role = Role.objects.create(slug=f"{group}_role", name=group.title())
        when = f'"cn={group},{directory.groups}" in groups'
        RoleRule.objects.create(source=source, position=position, when=when, role=role)
        playbook_import(text=playbook(group, role.slug), publish=True)
    return source


def _nightly(source: IdentitySource) -> None:
    task = source_schedule(source=source)
    current_app.send_task(task.task, kwargs=json.loads(task.kwargs), queue="identity")


def _next_module(key: str) -> str | None:
    response = Client().get("/api/v1/learners/1001/next-module", HTTP_AUTHORIZATION=f"Api-Key {key}")
    if response.status_code != 200:
        return None
    module = response.json().get("module")
    return module and module["slug"]


def _skip(key: str, event_id: str, module: str) -> None:
    event = {"id": event_id, "learner": "1001", "type": "module_skipped", "module": module}
    body = {"events": [{**event, "occurred_at": timezone.now().isoformat()}]}
    response = Client().post(
        "/api/v1/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )
    assert response.status_code == 202, response.content


def test_joined_moved_and_removed_through_the_nightly_task(directory, source, start_worker):  # noqa: F811
    reader, _ = api_key("learners:read")
    writer, _ = api_key("events:write")
    ada = directory.person("ada", employeeNumber="1001")
    for number in range(2, 12):  # colleagues: one leaver in 11 people stays under the 10 % deactivation brake
        directory.person(f"colleague{number}", employeeNumber=str(1000 + number))
    support = directory.group("support", [ada])
    sales = directory.group("sales", [f"cn=nobody,{directory.people}"])
    start_worker()

    _nightly(source)  # a joiner
    wait_until(lambda: _next_module(reader) == "support-1", what="ada's first support module")
    assert Learner.objects.get(external_id="1001").email == "ada@example.com"

    directory.replace(support, "member", [f"cn=nobody,{directory.people}"])  # a mover: support → sales
    directory.replace(sales, "member", [ada])
    _nightly(source)
    wait_until(lambda: _next_module(reader) == "sales-1", what="the sales playbook's module")

    _skip(writer, "ada-skips", "sales-1")
    wait_until(lambda: Message.objects.filter(status=MessageStatus.SCHEDULED).count() == 1, what="the reminder")

    directory.delete(ada)  # a leaver
    _nightly(source)
    wait_until(lambda: not Learner.objects.get(external_id="1001").is_active, what="ada's deactivation")
    wait_until(lambda: Message.objects.get().status == MessageStatus.CANCELLED, what="the reminder cancelled")
    assert _next_module(reader) in (None, "sales-1")
