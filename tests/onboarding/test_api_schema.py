"""The OpenAPI contract: valid, served without a CDN, and honoured by the API (schemathesis)."""

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from identity.services import learner_token_create
from onboarding.wsgi import application
from playbooks.services import learner_enroll, playbook_import
from tests.factories import api_key
from tests.playbooks.engine.replay import SCENARIOS


@pytest.fixture
def api_schema(db):
    # As Django's test client does: requests must not close the test's database connection (its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_schema_validates_without_warnings(db, tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    text = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/events:" in text and "/api/v1/me/next-module:" in text and "ErrorOutput" in text


def test_the_docs_page_loads_its_assets_from_this_site(client, db):
    page = client.get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/" in page
    assert "cdn" not in page.lower()


@pytest.fixture
def credentials(learner):
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    learner_enroll(learner=learner)
    service, _ = api_key("events:write", "learners:read", "playbooks:simulate")
    token = learner_token_create(learner=learner, name="schemathesis").key
    return {"service": f"Api-Key {service}", "learner": f"Token {token}"}


def test_the_api_honours_its_schema(api_schema, credentials):
    """Generated requests to every operation: no server error, no undocumented status, no schema violation."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # + GET /api/v1/me/reminders, /learners/{external_id}/flags and /reminders; GET and PUT /api/v1/me/preferences
    assert len(operations) == 20

    for operation in operations:
        _check_operation(operation, credentials)


def _check_operation(operation, credentials: dict) -> None:
    header = credentials["learner"] if operation.path.startswith("/api/v1/me/") else credentials["service"]

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case):
        # Every check but "schema-valid data is accepted": an unknown learner or a future timestamp is valid JSON
        # Schema-wise and rightly refused with a documented 400; the rest (no 5xx, documented statuses, bodies
        # that match their schema) must hold for any generated request.
        case.call_and_validate(
            headers={"Authorization": header, "Host": "localhost"}, excluded_checks=[positive_data_acceptance]
        )

    check()
