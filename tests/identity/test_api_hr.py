"""The HR push API: PUT one person, POST a batch all or nothing, mapped by the key's identity source."""

import pytest
from rest_framework.test import APIClient

from identity.models import AttributeMapping, IdentitySource, Learner, RoleAssignment, RoleRule
from tests.factories import RoleFactory, api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def hr():
    key, row = api_key("learners:write", "learners:read")
    source = IdentitySource.objects.create(name="workday", kind="api", api_key=row)
    AttributeMapping.objects.create(source=source, source_attribute="Dept", target="attributes.department")
    AttributeMapping.objects.create(
        source=source, source_attribute="Level", target="attributes.level", transform="integer"
    )
    RoleRule.objects.create(source=source, when='attributes.department == "support"', role=RoleFactory(slug="support"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


ADA = {
    "email": "ada@example.com",
    "display_name": "Ada",
    "timezone": "Europe/Berlin",
    "attributes": {"Dept": "support"},
}


def test_put_creates_then_is_idempotent_then_updates(hr):
    created = hr.put("/api/v1/learners/E1", ADA, format="json")

    assert created.status_code == 201, created.json()
    assert created.json() == {"external_id": "E1", "status": "created", "active": True, "unmapped": []}
    ada = Learner.objects.get(external_id="E1")
    assert (ada.email, ada.timezone, ada.attributes) == ("ada@example.com", "Europe/Berlin", {"department": "support"})
    assert list(RoleAssignment.objects.filter(learner=ada).values_list("role__slug", flat=True)) == ["support"]
    stamp = ada.updated_at

    again = hr.put("/api/v1/learners/E1", ADA, format="json")

    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    ada.refresh_from_db()
    assert ada.updated_at == stamp

    moved = hr.put("/api/v1/learners/E1", {**ADA, "attributes": {"Dept": "sales", "Shoe": "42"}}, format="json")

    assert moved.json() == {"external_id": "E1", "status": "updated", "active": True, "unmapped": ["Shoe"]}
    assert not RoleAssignment.objects.filter(learner=ada).exists()


def test_put_with_enabled_false_deactivates(hr):
    hr.put("/api/v1/learners/E1", ADA, format="json")

    response = hr.put("/api/v1/learners/E1", {**ADA, "enabled": False}, format="json")

    assert response.json()["status"] == "deactivated" and response.json()["active"] is False
    assert not Learner.objects.get(external_id="E1").is_active


def test_put_refuses_a_value_the_source_cannot_map_naming_the_field(hr):
    response = hr.put("/api/v1/learners/E1", {**ADA, "attributes": {"Level": "senior"}}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "attributes.Level" and "'senior' is not a whole number" in body["message"]
    assert not Learner.objects.exists()


def test_a_batch_with_one_bad_item_writes_nothing_and_lists_every_problem(hr):
    batch = {
        "learners": [
            {"external_id": "E1", **ADA},
            {"external_id": "E2", "timezone": "Mars/Olympus"},
            {"external_id": "E3", "colour": "blue", "attributes": {"email": "x@example.com"}},
            {"display_name": "nobody"},
        ]
    }

    response = hr.post("/api/v1/learners/batch", batch, format="json")

    assert response.status_code == 400
    errors = [(e["index"], e["field"], e["code"]) for e in response.json()["errors"]]
    assert errors == [
        (2, "colour", "unknown_field"),
        (2, "attributes.email", "invalid"),
        (3, "external_id", "required"),
    ]
    assert not Learner.objects.exists()

    del batch["learners"][2:]
    response = hr.post("/api/v1/learners/batch", batch, format="json")

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["index"], error["field"]) == (1, "timezone") and "IANA time zone" in error["message"]
    assert not Learner.objects.exists()


def test_a_valid_batch_is_applied_with_counts(hr):
    batch = {"learners": [{"external_id": f"E{n}", **ADA, "email": f"p{n}@example.com"} for n in range(3)]}

    response = hr.post("/api/v1/learners/batch", batch, format="json")

    assert response.status_code == 201
    assert response.json()["counts"] == {"created": 3}
    assert Learner.objects.count() == 3
    assert hr.post("/api/v1/learners/batch", batch, format="json").json()["counts"] == {"unchanged": 3}


def test_without_the_scope_or_a_linked_source_the_api_refuses():
    key, _row = api_key("learners:read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = client.put("/api/v1/learners/E1", ADA, format="json")

    assert response.status_code == 403 and "learners:write" in response.json()["message"]

    key, _row = api_key("learners:write")
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.put("/api/v1/learners/E1", ADA, format="json")

    assert (response.status_code, response.json()["code"]) == (403, "no_identity_source")
    assert not Learner.objects.exists()


def test_the_read_endpoints_under_learners_keep_working(hr):
    hr.put("/api/v1/learners/E1", ADA, format="json")

    response = hr.get("/api/v1/learners/E1/next-module")

    assert response.status_code == 200 and response.json()["status"] == "not_enrolled"
