"""A SCIM user as the sync's Entry: the documented flat attribute paths, groups, managers; and the learner behind it."""

from django.utils import timezone

from identity.models import AttributeMapping, Learner, SourceLink
from identity.scim.entries import user_attributes
from identity.scim.models import ScimUser
from tests.identity.scim.conftest import ENTERPRISE, USER_SCHEMA


def stored(document: dict) -> ScimUser:
    now = timezone.now()
    return ScimUser(user_name=document.get("userName", "x"), document=document, created_at=now, last_modified=now)


def test_every_attribute_becomes_a_flat_path():
    user = stored(
        {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": "ada@example.com",
            "externalId": "00u1",
            "displayName": "Ada Lovelace",
            "title": "Countess",
            "active": True,
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [
                {"value": "ada@home.example", "type": "home"},
                {"value": "ada@example.com", "type": "work", "primary": True},
            ],
            "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "mobile"}],
            "roles": [{"value": "admin"}, {"value": "support"}],
            ENTERPRISE: {"department": "Support", "employeeNumber": "1815", "manager": {"value": "m-1"}},
            "urn:example:custom:1.0": {"badge": 42},
        }
    )

    attributes = user_attributes(user)

    assert attributes["userName"] == "ada@example.com"
    assert attributes["externalId"] == "00u1"
    assert attributes["name.givenName"] == "Ada" and attributes["name.familyName"] == "Lovelace"
    assert attributes["emails[primary].value"] == "ada@example.com"
    assert attributes["emails[work].value"] == "ada@example.com"
    assert attributes["emails[home].value"] == "ada@home.example"
    assert attributes["emails.value"] == ["ada@home.example", "ada@example.com"]
    assert attributes["phoneNumbers[primary].value"] == "+44 20 7946 0000"  # no primary: the first
    assert attributes["phoneNumbers[mobile].value"] == "+44 20 7946 0000"
    assert attributes["roles.value"] == ["admin", "support"]
    assert attributes[f"{ENTERPRISE}:department"] == "Support"
    assert attributes[f"{ENTERPRISE}:employeeNumber"] == "1815"
    assert attributes[f"{ENTERPRISE}:manager.value"] == "m-1"
    assert attributes["urn:example:custom:1.0:badge"] == 42
    assert attributes["active"] is True
    assert not {"schemas", "password", "meta", "groups"} & set(attributes)


def test_a_mapping_to_any_documented_path_reaches_the_learner(okta, okta_source):
    AttributeMapping.objects.create(
        source=okta_source, position=5, source_attribute="name.givenName", target="attributes.first_name"
    )
    AttributeMapping.objects.create(
        source=okta_source, position=6, source_attribute="phoneNumbers[mobile].value", target="attributes.mobile"
    )

    reply = okta.post(
        "Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "ada@example.com",
            "name": {"givenName": "Ada"},
            "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "mobile"}],
        },
    )

    learner = Learner.objects.get(scim_users__id=reply.body["id"])
    assert learner.attributes == {"first_name": "Ada", "mobile": "+44 20 7946 0000"}


def test_the_manager_is_resolved_whichever_arrives_first(entra):
    ada = entra.post(
        "Users",
        {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": "ada@contoso.com",
            ENTERPRISE: {"manager": {"value": "00000000-0000-0000-0000-000000000001"}},
        },
    ).body
    boss = entra.post("Users", {"schemas": [USER_SCHEMA], "userName": "boss@contoso.com"}).body

    entra.patch(f"Users/{ada['id']}", [{"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}])
    learner = Learner.objects.get(scim_users__id=ada["id"])
    before = learner.attributes.get("manager")
    entra.patch(f"Users/{boss['id']}", [{"op": "Replace", "path": "userName", "value": "chief@contoso.com"}])
    learner.refresh_from_db()
    renamed = learner.attributes.get("manager")
    entra.delete(f"Users/{boss['id']}")
    learner.refresh_from_db()

    assert (before, renamed) == ("boss@contoso.com", "chief@contoso.com")
    assert "manager" not in learner.attributes


def test_a_renamed_user_keeps_their_learner(okta):
    ada = okta.post("Users", {"schemas": [USER_SCHEMA], "userName": "ada@example.com"}).body
    learner_id = ScimUser.objects.get(pk=ada["id"]).learner_id

    reply = okta.patch(f"Users/{ada['id']}", [{"op": "replace", "path": "userName", "value": "ada.king@example.com"}])

    assert reply.status in (200, 204), reply.body
    assert ScimUser.objects.get(pk=ada["id"]).learner_id == learner_id
    assert okta.get('Users?filter=userName eq "ada.king@example.com"').body["totalResults"] == 1


def test_a_user_created_again_after_a_delete_brings_their_learner_back(okta, okta_source):
    first = okta.post("Users", {"schemas": [USER_SCHEMA], "userName": "ada@example.com"}).body
    learner = Learner.objects.get(scim_users__id=first["id"])
    okta.delete(f"Users/{first['id']}")
    learner.refresh_from_db()
    deactivated = not learner.is_active

    again = okta.post("Users", {"schemas": [USER_SCHEMA], "userName": "ada@example.com"})

    learner.refresh_from_db()
    assert deactivated and again.status == 201, again.body
    assert again.body["id"] != first["id"]
    assert learner.is_active
    assert SourceLink.objects.get(source=okta_source, learner=learner).remote_id == again.body["id"]


def test_an_inactive_user_is_kept_without_a_learner(okta):
    reply = okta.post("Users", {"schemas": [USER_SCHEMA], "userName": "ada@example.com", "active": False})

    assert reply.status == 201 and reply.body["active"] is False
    assert ScimUser.objects.get(pk=reply.body["id"]).learner_id is None
    assert not Learner.objects.exists()


def test_the_admin_shows_what_was_provisioned(client, django_user_model, okta):
    ada = okta.post("Users", {"schemas": [USER_SCHEMA], "userName": "ada@example.com"}).body
    okta.post(
        "Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Support",
            "members": [{"value": ada["id"]}],
        },
    )
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    client.force_login(admin)

    pages = [
        "/admin/scim/scimuser/",
        f"/admin/scim/scimuser/{ada['id']}/change/",
        "/admin/scim/scimgroup/",
        "/admin/scim/scimuser/add/",
    ]

    assert [client.get(page).status_code for page in pages] == [200, 200, 200, 403]
