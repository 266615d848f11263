"""What the SCIM service announces and accepts: RFC 7643's User (with the enterprise extension) and Group, and the
deviations Okta and Microsoft Entra ID are known to send.

Built once per process (``scim_service()``): scim2-models compiles a model per resource type from the schemas.
"""

import functools
import json
from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    External,
    Filter,
    Patch,
    Reference,
    ResourceType,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
)
from scim2_server.service import ScimService
from scim2_server.utils import load_default_resource_types, load_default_schemas

USER, GROUP = "User", "Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# The most resources one search answers (RFC 7644 §3.4.2.4: a larger count is lowered to it).
MAX_RESULTS = 1000

# Entra sends op names capitalised (Add, Replace, Remove): scim2-models reads them whatever their case. The policy
# adds what the RFC leaves strict: a Remove carrying the members to remove as its value (Entra), an Add or Replace on
# a filtered path that matches nothing creates the entry (Entra: emails[type eq "work"].value on a user with no work
# address), and attributes no schema declares are kept and given back rather than refused (an IdP mapping to a
# namespace of its own); a declared attribute of the wrong type is still a 400 naming it.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.keep,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

BEARER_TOKEN = AuthenticationScheme(
    type=AuthenticationScheme.Type.oauthbearertoken,
    name="OAuth Bearer Token",
    description="The SCIM token issued for the identity source, as Authorization: Bearer <token>.",
    spec_uri=Reference[External]("https://www.rfc-editor.org/rfc/rfc6750"),
    primary=True,
)

CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=True),
    etag=ETag(supported=True),
    authentication_schemes=[BEARER_TOKEN],
)


class PlatformScimService(ScimService):
    """scim2-server's protocol logic, with the request bodies of Entra made valid before they are read.

    Entra sends the enterprise ``manager`` as the manager's id alone (``"value": "26118915-…"``, in a PATCH or in a
    body), where the schema has a complex ``{"value": …}``; and the members a Remove takes out with ``"$ref": null``.
    """

    def read_creation(self, resource_type: ResourceType, body: bytes, content_type: str | None) -> Any:
        return super().read_creation(resource_type, _tolerated(body, _fix_resource), content_type)

    def read_replacement(self, resource_type: ResourceType, body: bytes, content_type: str | None) -> Any:
        return super().read_replacement(resource_type, _tolerated(body, _fix_resource), content_type)

    def read_patch(self, resource_type: ResourceType, body: bytes, content_type: str | None) -> Any:
        return super().read_patch(resource_type, _tolerated(body, _fix_patch), content_type)


def _tolerated(body: bytes, fix) -> bytes:
    """The body with ``fix`` applied, or as it came when it is not a JSON object (its error is scim2-server's)."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if not isinstance(document, dict) or not fix(document):
        return body
    return json.dumps(document).encode()


def _fix_resource(document: dict[str, Any]) -> bool:
    changed = False
    for key, value in document.items():
        if key.casefold() == ENTERPRISE_USER.casefold() and isinstance(value, dict):
            changed |= _fix_manager(value)
    return changed


def _fix_manager(extension: dict[str, Any]) -> bool:
    for key, value in extension.items():
        if key.casefold() == "manager" and isinstance(value, str):
            extension[key] = {"value": value}
            return True
    return False


def _fix_patch(document: dict[str, Any]) -> bool:
    changed = False
    operations = next((v for k, v in document.items() if k.casefold() == "operations"), None)
    for operation in operations if isinstance(operations, list) else []:
        if not isinstance(operation, dict):
            continue
        path, value = operation.get("path"), operation.get("value")
        if str(operation.get("op")).casefold() == "remove" and isinstance(value, list):
            changed |= _drop_nulls(value)
        if isinstance(path, str) and path.casefold() == f"{ENTERPRISE_USER}:manager".casefold():
            if isinstance(value, str):
                operation["value"] = {"value": value}
                changed = True
        elif path is None and isinstance(value, dict):
            for key in list(value):
                if key.casefold() == f"{ENTERPRISE_USER}:manager".casefold() and isinstance(value[key], str):
                    value[key] = {"value": value[key]}
                    changed = True
            changed |= _fix_resource(value)
    return changed


def _drop_nulls(entries: list[Any]) -> bool:
    """``{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "…"}]}`` (Entra) removes the member
    whose value is given: a null is no criterion (read as one, ``$ref eq null`` would match no stored member)."""
    changed = False
    for entry in entries:
        if isinstance(entry, dict):
            for key in [key for key, item in entry.items() if item is None]:
                del entry[key]
                changed = True
    return changed


@functools.cache
def scim_provider() -> ScimProvider:
    return ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=CONFIG, policy=POLICY
    )


@functools.cache
def scim_service() -> PlatformScimService:
    return PlatformScimService(scim_provider())


def resource_type(name: str) -> ResourceType:
    return scim_service().get_resource_type(name)


def resource_model(name: str) -> Any:
    return scim_service().get_model(resource_type(name))
