"""The requests Microsoft Entra ID's provisioning service really sends (its SCIM validator's shapes): capitalised PATCH
ops, the enterprise extension, the manager as a bare id, group lookups without members, members added and removed."""

from identity.models import Learner, RoleAssignment, RoleRule
from identity.scim.models import ScimGroup, ScimUser
from tests.factories import RoleFactory
from tests.identity.scim.conftest import ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA


def entra_user(user_name: str, **enterprise) -> dict:
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": user_name.split("@")[0],
        "userName": user_name,
        "active": True,
        "displayName": user_name.split("@")[0].replace(".", " ").title(),
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        "roles": [],
        ENTERPRISE: {"department": "Support", "employeeNumber": "1815", **enterprise},
    }


def test_post_with_the_enterprise_extension_maps_the_department(entra):
    reply = entra.post("Users", entra_user("ada@contoso.com"))

    assert reply.status == 201, reply.body
    assert reply.body[ENTERPRISE]["department"] == "Support"
    learner = Learner.objects.get(scim_users__id=reply.body["id"])
    assert learner.attributes["department"] == "Support"
    assert learner.email == "ada@contoso.com"


def test_the_manager_may_come_as_a_bare_id(entra):
    boss = entra.post("Users", entra_user("boss@contoso.com")).body

    created = entra.post("Users", entra_user("ada@contoso.com", manager=boss["id"]))
    patched = entra.patch(
        f"Users/{created.body['id']}",
        [{"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}],
    )

    assert created.status == 201, created.body
    assert created.body[ENTERPRISE]["manager"]["value"] == boss["id"]
    assert patched.status in (200, 204), patched.body


def test_patch_with_capitalised_replace_ops_updates_the_learner(entra):
    user = entra.post("Users", entra_user("ada@contoso.com")).body

    reply = entra.patch(
        f"Users/{user['id']}",
        [
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ada.lovelace@contoso.com"},
            {"op": "Replace", "path": "displayName", "value": "Ada Lovelace"},
            {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Sales"},
            {"op": "Add", "path": "name.givenName", "value": "Augusta"},
        ],
    )

    assert reply.status in (200, 204), reply.body
    stored = entra.get(f"Users/{user['id']}").body
    assert stored["emails"] == [{"primary": True, "type": "work", "value": "ada.lovelace@contoso.com"}]
    assert stored["name"]["givenName"] == "Augusta"
    learner = Learner.objects.get(scim_users__id=user["id"])
    assert (learner.email, learner.display_name) == ("ada.lovelace@contoso.com", "Ada Lovelace")
    assert learner.attributes["department"] == "Sales"


def test_patch_replace_active_false_and_back(entra):
    user = entra.post("Users", entra_user("ada@contoso.com")).body

    off = entra.patch(f"Users/{user['id']}", [{"op": "Replace", "path": "active", "value": False}])
    learner = Learner.objects.get(scim_users__id=user["id"])
    was_active = learner.is_active
    on = entra.patch(f"Users/{user['id']}", [{"op": "Replace", "path": "active", "value": "True"}])  # old Entra apps
    learner.refresh_from_db()

    assert off.status in (200, 204) and on.status in (200, 204)
    assert not was_active
    assert learner.is_active


def test_a_work_email_added_where_there_was_none(entra):
    body = entra_user("ada@contoso.com")
    body["emails"] = []
    user = entra.post("Users", body).body

    reply = entra.patch(
        f"Users/{user['id']}", [{"op": "Add", "path": 'emails[type eq "work"].value', "value": "ada@contoso.com"}]
    )

    assert reply.status in (200, 204), reply.body
    assert entra.get(f"Users/{user['id']}").body["emails"] == [{"type": "work", "value": "ada@contoso.com"}]


def test_get_groups_without_members_as_entra_looks_a_group_up(entra):
    user = entra.post("Users", entra_user("ada@contoso.com")).body
    group = entra.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Support", "members": [{"value": user["id"]}]}
    ).body

    listed = entra.get("Groups?excludedAttributes=members")
    filtered = entra.get('Groups?excludedAttributes=members&filter=displayName eq "support"')
    one = entra.get(f"Groups/{group['id']}?excludedAttributes=members")
    whole = entra.get(f"Groups/{group['id']}")

    assert listed.status == 200
    assert [g["displayName"] for g in listed.body["Resources"]] == ["Support"]
    assert "members" not in listed.body["Resources"][0]
    assert [g["id"] for g in filtered.body["Resources"]] == [group["id"]]
    assert "members" not in filtered.body["Resources"][0]
    assert "members" not in one.body and one.body["displayName"] == "Support"
    assert [m["value"] for m in whole.body["members"]] == [user["id"]]
    assert whole.body["members"][0]["$ref"] == f"http://testserver/scim/v2/Users/{user['id']}"


def test_group_members_added_and_removed_give_and_withdraw_roles(entra, entra_source):
    support = RoleFactory(slug="support_specialist")
    RoleRule.objects.create(source=entra_source, when='"Support" in groups', role=support)
    ada = entra.post("Users", entra_user("ada@contoso.com")).body
    bob = entra.post("Users", entra_user("bob@contoso.com")).body
    group = entra.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Support", "members": []}).body

    def roles(user: dict) -> list[str]:
        learner = Learner.objects.get(scim_users__id=user["id"])
        return list(RoleAssignment.objects.filter(learner=learner).values_list("role__slug", flat=True))

    added = entra.patch(
        f"Groups/{group['id']}",
        [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": ada["id"]}, {"value": bob["id"]}]}],
    )
    after_add = (roles(ada), roles(bob))
    removed = entra.patch(
        f"Groups/{group['id']}", [{"op": "Remove", "path": "members", "value": [{"$ref": None, "value": ada["id"]}]}]
    )

    assert added.status in (200, 204) and removed.status in (200, 204), (added.body, removed.body)
    assert after_add == (["support_specialist"], ["support_specialist"])
    assert (roles(ada), roles(bob)) == ([], ["support_specialist"])
    assert [m["value"] for m in entra.get(f"Groups/{group['id']}").body["members"]] == [bob["id"]]
    assert [g["display"] for g in entra.get(f"Users/{bob['id']}").body["groups"]] == ["Support"]


def test_renaming_or_deleting_a_group_reapplies_its_members(entra, entra_source):
    RoleRule.objects.create(source=entra_source, when='"Support" in groups', role=RoleFactory(slug="support"))
    ada = entra.post("Users", entra_user("ada@contoso.com")).body
    group = entra.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Support", "members": [{"value": ada["id"]}]}
    ).body
    learner = Learner.objects.get(scim_users__id=ada["id"])
    given = learner.role_assignments.count()

    entra.patch(f"Groups/{group['id']}", [{"op": "Replace", "path": "displayName", "value": "Support Tier 2"}])
    renamed = learner.role_assignments.count()
    entra.patch(f"Groups/{group['id']}", [{"op": "Replace", "path": "displayName", "value": "Support"}])
    back = learner.role_assignments.count()
    deleted = entra.delete(f"Groups/{group['id']}")

    assert (given, renamed, back) == (1, 0, 1)
    assert deleted.status == 204
    assert learner.role_assignments.count() == 0
    assert not ScimGroup.objects.filter(pk=group["id"]).exists()
    assert entra.get(f"Groups/{group['id']}").status == 404


def test_nested_groups_count_for_the_users_inside(entra, entra_source):
    RoleRule.objects.create(source=entra_source, when='"Everyone" in groups', role=RoleFactory(slug="employee"))
    ada = entra.post("Users", entra_user("ada@contoso.com")).body
    support = entra.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Support", "members": [{"value": ada["id"]}]}
    ).body

    entra.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Everyone", "members": [{"value": support["id"]}]})

    learner = Learner.objects.get(scim_users__id=ada["id"])
    assert list(learner.role_assignments.values_list("role__slug", flat=True)) == ["employee"]
    groups = entra.get(f"Users/{ada['id']}").body["groups"]
    assert [(g["display"], g["type"]) for g in groups] == [("Support", "direct"), ("Everyone", "indirect")]


def test_a_member_that_is_not_ours_is_refused(entra, okta):
    stranger = okta.post("Users", entra_user("eve@contoso.com")).body

    reply = entra.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Support", "members": [{"value": stranger["id"]}]}
    )

    assert reply.status == 400
    assert reply.body["scimType"] == "invalidValue" and stranger["id"] in reply.body["detail"]
    assert not ScimGroup.objects.exists()


def test_delete_deactivates_the_learner_and_keeps_the_row(entra):
    user = entra.post("Users", entra_user("ada@contoso.com")).body

    deleted = entra.delete(f"Users/{user['id']}")

    assert deleted.status == 204
    assert entra.get(f"Users/{user['id']}").status == 404
    assert entra.get('Users?filter=userName eq "ada@contoso.com"').body["totalResults"] == 0
    row = ScimUser.objects.get(pk=user["id"])
    assert row.deleted_at is not None and not row.active and row.document["active"] is False
    learner = Learner.objects.get(pk=row.learner_id)
    assert not learner.is_active
    assert entra.delete(f"Users/{user['id']}").status == 404
