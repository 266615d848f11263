"""Who may call /scim/v2/ (a source's bearer token, and only for that source's people) and how refusals look."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError

from identity.models import AttributeMapping, IdentitySource, Learner, RoleSource
from identity.scim.models import ScimUser
from identity.scim.storage import SourceStorage
from identity.scim.tokens import scim_token_issue, scim_token_source
from tests.identity.scim.conftest import ERROR, GROUP_SCHEMA, SCIM_JSON, USER_SCHEMA, ScimClient

ADA = {"schemas": [USER_SCHEMA], "userName": "ada@example.com", "emails": [{"value": "ada@example.com"}]}


def test_no_token_is_a_scim_401_with_a_challenge(okta_source):
    reply = ScimClient(None).get("Users")

    assert reply.status == 401
    assert reply.headers["Content-Type"] == SCIM_JSON
    assert reply.body["schemas"] == [ERROR] and reply.body["status"] == "401"
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="SCIM"'


@pytest.mark.parametrize(
    "authorization",
    ["Bearer ons_00000000_notatoken", "Bearer onb_00000000_aservicekey", "Basic YWRtaW46YWRtaW4=", "Bearer"],
)
def test_a_wrong_token_is_a_401_and_writes_nothing(okta_token, authorization):
    client = ScimClient(None)

    read = client.get("Users", HTTP_AUTHORIZATION=authorization)
    write = client.post("Users", ADA, HTTP_AUTHORIZATION=authorization)

    assert (read.status, write.status) == (401, 401)
    assert write.body["schemas"] == [ERROR]
    assert not ScimUser.objects.exists()


def test_a_token_replaced_by_a_new_one_stops_working(okta_source, okta_token):
    new = scim_token_issue(source=okta_source)

    assert ScimClient(okta_token).get("Users").status == 401
    assert ScimClient(new).get("Users").status == 200


def test_a_token_never_reaches_another_sources_people(okta, entra):
    ada = okta.post("Users", ADA).body
    group = okta.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Support"}).body

    assert entra.get(f"Users/{ada['id']}").status == 404
    assert entra.get("Users").body["totalResults"] == 0
    assert entra.get('Users?filter=userName eq "ada@example.com"').body["totalResults"] == 0
    assert entra.get("Groups").body["totalResults"] == 0
    assert entra.patch(f"Users/{ada['id']}", [{"op": "replace", "path": "active", "value": False}]).status == 404
    assert entra.put(f"Users/{ada['id']}", {**ADA, "active": False}).status == 404
    assert entra.delete(f"Users/{ada['id']}").status == 404
    assert entra.delete(f"Groups/{group['id']}").status == 404
    assert okta.get(f"Users/{ada['id']}").status == 200
    assert okta.get(f"Groups/{group['id']}").status == 200
    assert Learner.objects.get(scim_users__id=ada["id"]).is_active


def test_a_disabled_source_is_refused(okta, okta_source):
    IdentitySource.objects.filter(pk=okta_source.pk).update(enabled=False)

    reply = okta.get("Users")

    assert reply.status == 403 and reply.body["schemas"] == [ERROR]


def test_a_source_that_is_no_longer_scim_loses_its_token(okta, okta_source):
    IdentitySource.objects.filter(pk=okta_source.pk).update(kind=RoleSource.LDAP)

    assert okta.get("Users").status == 401


def test_the_service_provider_config_needs_no_token(db):
    reply = ScimClient(None).get("ServiceProviderConfig")

    assert reply.status == 200
    assert reply.body["patch"]["supported"] is True and reply.body["bulk"]["supported"] is False
    assert reply.body["filter"] == {"supported": True, "maxResults": 1000}
    assert reply.body["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_discovery_lists_users_groups_and_the_enterprise_extension(okta):
    types = okta.get("ResourceTypes").body["Resources"]
    schemas = okta.get("Schemas").body["Resources"]

    assert {t["endpoint"] for t in types} == {"/Users", "/Groups"}
    assert "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" in {s["id"] for s in schemas}


@pytest.mark.parametrize(
    ("body", "attribute"),
    [
        ({"schemas": [USER_SCHEMA], "displayName": "No userName"}, "userName"),
        ({**ADA, "active": "maybe"}, "active"),
        ({**ADA, "emails": "ada@example.com"}, "emails"),
        ({**ADA, "name": {"givenName": ["Ada"]}}, "name.givenName"),
        ({**ADA, "userName": "a" * 256}, "userName"),
    ],
)
def test_a_body_violating_the_schema_is_a_400_naming_the_attribute(okta, body, attribute):
    reply = okta.post("Users", body)

    assert reply.status == 400, reply.body
    assert reply.body["schemas"] == [ERROR] and reply.body["status"] == "400"
    assert reply.body["scimType"] == "invalidValue"
    assert attribute in reply.body["detail"]
    assert not ScimUser.objects.exists() and not Learner.objects.exists()


def test_a_patch_violating_the_schema_changes_nothing(okta):
    ada = okta.post("Users", ADA).body

    reply = okta.patch(
        f"Users/{ada['id']}",
        [{"op": "replace", "path": "displayName", "value": "Ada"}, {"op": "replace", "path": "active", "value": []}],
    )

    assert reply.status == 400 and "active" in reply.body["detail"]
    assert "displayName" not in okta.get(f"Users/{ada['id']}").body


def test_a_person_the_sync_cannot_map_is_refused_and_nothing_is_written(okta, okta_source):
    AttributeMapping.objects.create(source=okta_source, position=9, source_attribute="timezone", target="timezone")

    reply = okta.post("Users", {**ADA, "timezone": "Mars/Olympus_Mons"})

    assert reply.status == 400
    assert "timezone" in reply.body["detail"] and "Mars/Olympus_Mons" in reply.body["detail"]
    assert not ScimUser.objects.exists() and not Learner.objects.exists()


def test_if_match_with_an_old_version_is_refused(okta):
    ada = okta.post("Users", ADA)
    okta.patch(f"Users/{ada.body['id']}", [{"op": "replace", "path": "displayName", "value": "Ada"}])

    stale = okta.patch(
        f"Users/{ada.body['id']}",
        [{"op": "replace", "path": "displayName", "value": "Lady Ada"}],
        HTTP_IF_MATCH=ada.headers["ETag"],
    )

    assert stale.status == 412
    assert okta.get(f"Users/{ada.body['id']}").body["displayName"] == "Ada"


def test_bulk_and_me_are_not_implemented(okta):
    assert okta.post("Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]}).status == 501
    assert okta.get("Me").status == 501


def test_the_command_prints_a_token_once_and_sets_the_defaults(okta_source):
    out, err = io.StringIO(), io.StringIO()

    call_command("issue_scim_token", "okta", stdout=out, stderr=err)

    token = out.getvalue().strip()
    assert token.startswith("ons_") and "not shown again" in err.getvalue()
    okta_source.refresh_from_db()
    assert scim_token_source(token) == okta_source
    assert token not in (okta_source.token_hash, okta_source.token_prefix)
    assert okta_source.external_id_from == "userName"
    assert list(okta_source.attribute_mappings.values_list("source_attribute", "target")) == [
        ("emails[primary].value", "email"),
        ("displayName", "display_name"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "attributes.department"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.userName", "attributes.manager"),
    ]


def test_issuing_keeps_the_mappings_a_source_has(okta_source):
    AttributeMapping.objects.create(source=okta_source, source_attribute="userName", target="email")
    IdentitySource.objects.filter(pk=okta_source.pk).update(external_id_from="externalId")
    okta_source.refresh_from_db()

    scim_token_issue(source=okta_source)

    assert list(okta_source.attribute_mappings.values_list("source_attribute", flat=True)) == ["userName"]
    assert okta_source.external_id_from == "externalId"


def test_a_non_scim_source_gets_no_token(db):
    IdentitySource.objects.create(name="corp-ldap", kind=RoleSource.LDAP)

    with pytest.raises(CommandError, match="SCIM tokens are for SCIM sources"):
        call_command("issue_scim_token", "corp-ldap", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="No identity source"):
        call_command("issue_scim_token", "nope", stdout=io.StringIO(), stderr=io.StringIO())
    assert IdentitySource.objects.get(name="corp-ldap").token_hash == ""


def test_a_leaver_whose_profile_no_longer_maps_is_deactivated_all_the_same(okta, okta_source):
    ada = okta.post("Users", {**ADA, "timezone": "Mars/Olympus_Mons"}).body  # not mapped yet: accepted
    AttributeMapping.objects.create(source=okta_source, position=9, source_attribute="timezone", target="timezone")

    reply = okta.patch(f"Users/{ada['id']}", [{"op": "replace", "value": {"active": False}}])

    assert reply.status in (200, 204), reply.body
    assert not Learner.objects.get(scim_users__id=ada["id"]).is_active


def test_a_database_outage_is_a_scim_503_with_retry_after(okta, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(SourceStorage, "search", unreachable)

    reply = okta.get("Users")

    assert reply.status == 503
    assert reply.body["schemas"] == [ERROR] and reply.headers["Retry-After"] == "5"


def test_a_chunked_body_is_refused_rather_than_read_as_empty(okta):
    reply = okta.post("Users", ADA, HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="")

    assert reply.status == 411 and reply.body["schemas"] == [ERROR]
    assert not ScimUser.objects.exists()
