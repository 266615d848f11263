"""scim2-tester's compliance checks against /scim/v2/, in process, through the platform's own WSGI application."""

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_models import ScimProvider
from scim2_tester import Status, check_server

from onboarding.wsgi import application


@pytest.fixture
def wsgi_requests(db):
    # As Django's test client does: requests must not close the test's database connection (its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_scim2_tester_finds_no_failure(wsgi_requests, okta_token):
    """Every check of scim2-tester 0.5.2 (discovery, CRUD, query attributes, PATCH add/replace/remove on each
    attribute of User with the enterprise extension and of Group): 135 checks, all successful, none skipped."""
    client = WSGISCIMClient(
        application,
        base_url="http://localhost/scim/v2",
        headers={"Authorization": f"Bearer {okta_token}"},
        provider=ScimProvider(),
    )

    results = check_server(client, raise_exceptions=False)

    failures = [f"{r.title} [{r.resource_type}]: {r.reason}" for r in results if r.status != Status.SUCCESS]
    assert not failures, "\n".join(failures)
    assert len(results) == 135
