"""SCIM fixtures: two SCIM sources (Okta's and Entra's) with their tokens, and a client speaking SCIM JSON."""

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from identity.models import IdentitySource, RoleSource
from identity.scim.tokens import scim_token_issue

SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


class ScimClient:
    """Django's test client, sending SCIM JSON with a bearer token (or none)."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.token = token

    def request(self, method: str, path: str, body: Any = None, **extra) -> Reply:
        """``extra`` as for Django's client: WSGI keys such as ``HTTP_IF_MATCH``."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}
        data = json.dumps(body) if body is not None else ""
        response = self.client.generic(
            method, f"/scim/v2/{path.lstrip('/')}", data=data, content_type=SCIM_JSON, headers=headers, **extra
        )
        content = response.content
        return Reply(response.status_code, json.loads(content) if content else None, response.headers)

    def get(self, path: str, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs) -> Reply:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, operations: list[dict[str, Any]], **kwargs) -> Reply:
        return self.request("PATCH", path, {"schemas": [PATCH_OP], "Operations": operations}, **kwargs)

    def delete(self, path: str, **kwargs) -> Reply:
        return self.request("DELETE", path, **kwargs)


def scim_source(name: str) -> IdentitySource:
    return IdentitySource.objects.create(name=name, kind=RoleSource.SCIM)


@pytest.fixture
def okta_source(db) -> IdentitySource:
    return scim_source("okta")


@pytest.fixture
def okta_token(okta_source) -> str:
    return scim_token_issue(source=okta_source)


@pytest.fixture
def okta(okta_token) -> ScimClient:
    return ScimClient(okta_token)


@pytest.fixture
def entra_source(db) -> IdentitySource:
    return scim_source("entra")


@pytest.fixture
def entra_token(entra_source) -> str:
    return scim_token_issue(source=entra_source)


@pytest.fixture
def entra(entra_token) -> ScimClient:
    return ScimClient(entra_token)
