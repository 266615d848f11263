"""The requests Okta's SCIM 2.0 provisioning really sends (its SCIM test suite's shapes), end to end to the learner."""

from identity.models import Learner, SourceLink
from identity.scim.models import ScimUser
from tests.identity.scim.conftest import ERROR, SCIM_JSON, USER_SCHEMA


def okta_user(user_name: str, **extra) -> dict:
    given, _, family = user_name.partition("@")[0].partition(".")
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given.capitalize(), "familyName": family.capitalize() or "User"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given.capitalize()} {family.capitalize()}".strip(),
        "locale": "en-US",
        "externalId": f"00u{abs(hash(user_name)) % 10**10}",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
        **extra,
    }


def test_post_creates_the_user_and_their_learner(okta, okta_source):
    reply = okta.post("Users", okta_user("ada.lovelace@example.com"))

    assert reply.status == 201, reply.body
    assert reply.headers["Content-Type"] == SCIM_JSON
    user_id = reply.body["id"]
    assert reply.headers["Location"] == f"http://testserver/scim/v2/Users/{user_id}"
    assert reply.headers["ETag"] == reply.body["meta"]["version"]
    assert reply.body["userName"] == "ada.lovelace@example.com"
    assert reply.body["active"] is True
    assert "password" not in reply.body
    stored = ScimUser.objects.get(pk=user_id)
    assert stored.source == okta_source and "password" not in stored.document
    learner = Learner.objects.get(pk=stored.learner_id)
    assert learner.external_id == "ada.lovelace@example.com"  # the defaults: external id from userName
    assert learner.email == "ada.lovelace@example.com"
    assert learner.display_name == "Ada Lovelace"
    assert learner.is_active
    assert SourceLink.objects.get(source=okta_source, learner=learner).remote_id == user_id


def test_get_users_pages_by_start_index_and_count(okta):
    ids = [okta.post("Users", okta_user(f"user.{n}@example.com")).body["id"] for n in range(5)]

    first = okta.get("Users?startIndex=1&count=2")
    third = okta.get("Users?startIndex=5&count=2")

    assert first.status == 200
    assert first.body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert (first.body["totalResults"], first.body["itemsPerPage"], first.body["startIndex"]) == (5, 2, 1)
    assert [user["id"] for user in first.body["Resources"]] == ids[:2]
    assert (third.body["itemsPerPage"], third.body["startIndex"]) == (1, 5)
    assert [user["id"] for user in third.body["Resources"]] == ids[4:]


def test_filter_by_user_name_finds_one_whatever_the_case_or_none(okta):
    created = okta.post("Users", okta_user("ada@example.com")).body
    okta.post("Users", okta_user("grace@example.com"))

    found = okta.get('Users?filter=userName eq "ada@example.com"&startIndex=1&count=100')
    found_upper = okta.get('Users?filter=userName eq "ADA@example.COM"')
    missing = okta.get('Users?filter=userName eq "nobody@example.com"')

    assert found.status == 200
    assert found.body["totalResults"] == 1 and found.body["Resources"][0]["id"] == created["id"]
    assert [user["id"] for user in found_upper.body["Resources"]] == [created["id"]]
    assert missing.body["totalResults"] == 0 and missing.body.get("Resources", []) == []


def test_filters_with_and_co_and_sw(okta):
    okta.post("Users", okta_user("ada@example.com", title="Engineer"))
    okta.post("Users", okta_user("adam@example.org", title="Engineer"))
    okta.post("Users", okta_user("grace@example.com", title="Admiral"))

    def names(query: str) -> list[str]:
        reply = okta.get(f"Users?filter={query}")
        assert reply.status == 200, reply.body
        return sorted(user["userName"] for user in reply.body["Resources"])

    assert names('userName sw "ada"') == ["ada@example.com", "adam@example.org"]
    assert names('emails.value co "example.com"') == ["ada@example.com", "grace@example.com"]
    assert names('userName sw "ada" and title eq "engineer"') == ["ada@example.com", "adam@example.org"]
    assert names('userName eq "ada@example.com" and title eq "Admiral"') == []
    assert names('userName eq "ada@example.com" or userName eq "grace@example.com"') == [
        "ada@example.com",
        "grace@example.com",
    ]


def test_a_user_name_is_taken_once_per_source(okta, entra):
    assert okta.post("Users", okta_user("ada@example.com")).status == 201

    again = okta.post("Users", okta_user("ADA@example.com"))

    assert again.status == 409
    assert again.body["scimType"] == "uniqueness" and "userName" in again.body["detail"]
    assert entra.post("Users", okta_user("ada@example.com")).status != 409  # another source's people are its own


def test_put_replaces_the_profile_and_keeps_active_when_left_out(okta):
    user = okta.post("Users", okta_user("ada@example.com")).body
    okta.patch(f"Users/{user['id']}", [{"op": "replace", "value": {"active": False}}])

    profile = okta_user("ada@example.com", displayName="Ada King", title="Countess")
    del profile["active"]
    reply = okta.put(f"Users/{user['id']}", profile)

    assert reply.status == 200, reply.body
    assert reply.body["active"] is False  # left out: kept, not reactivated
    assert reply.body["displayName"] == "Ada King" and reply.body["title"] == "Countess"
    learner = Learner.objects.get(scim_users__id=user["id"])
    assert learner.display_name == "Ada King"
    assert not learner.is_active


def test_put_with_active_true_reactivates_the_learner(okta):
    user = okta.post("Users", okta_user("ada@example.com")).body
    okta.patch(f"Users/{user['id']}", [{"op": "replace", "value": {"active": False}}])

    reply = okta.put(f"Users/{user['id']}", okta_user("ada@example.com", active=True))

    assert reply.status == 200 and reply.body["active"] is True
    assert Learner.objects.get(scim_users__id=user["id"]).is_active


def test_patch_active_false_deactivates_the_learner(okta):
    user = okta.post("Users", okta_user("ada@example.com")).body

    reply = okta.patch(f"Users/{user['id']}", [{"op": "replace", "value": {"active": False}}])

    assert reply.status in (200, 204), reply.body
    assert okta.get(f"Users/{user['id']}").body["active"] is False
    learner = Learner.objects.get(scim_users__id=user["id"])
    assert not learner.is_active and learner.deactivated_at is not None
    assert not ScimUser.objects.get(pk=user["id"]).active


def test_an_unknown_id_is_a_scim_404(okta):
    reply = okta.get("Users/8b0e8a31-3a51-4a0e-9a43-8a1b0c1f0c3e")
    garbage = okta.get("Users/not-a-uuid")

    assert reply.status == 404 and garbage.status == 404
    assert reply.body["schemas"] == [ERROR] and reply.body["status"] == "404"


def test_search_by_post_with_sorting_and_attributes(okta):
    for name in ("carol@example.com", "ada@example.com", "bob@example.com"):
        okta.post("Users", okta_user(name))

    reply = okta.post(
        "Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'emails.value ew "@example.com"',
            "sortBy": "userName",
            "sortOrder": "descending",
            "attributes": ["userName"],
            "startIndex": 1,
            "count": 2,
        },
    )

    assert reply.status == 200, reply.body
    assert reply.body["totalResults"] == 3
    assert [user["userName"] for user in reply.body["Resources"]] == ["carol@example.com", "bob@example.com"]
    assert set(reply.body["Resources"][0]) == {"id", "userName", "schemas"}


def test_a_read_with_the_current_etag_is_not_modified(okta):
    created = okta.post("Users", okta_user("ada@example.com"))

    reply = okta.get(f"Users/{created.body['id']}", HTTP_IF_NONE_MATCH=created.headers["ETag"])

    assert reply.status == 304 and reply.headers["ETag"] == created.headers["ETag"]
