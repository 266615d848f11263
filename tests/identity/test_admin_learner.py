import pytest
from django.urls import reverse

from identity.models import Learner, RoleAssignment
from tests.factories import LearnerFactory, RoleFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:identity_learner_changelist")


def _inline_management(prefix: str = "role_assignments", total: int = 0, initial: int = 0) -> dict[str, int]:
    return {
        f"{prefix}-TOTAL_FORMS": total,
        f"{prefix}-INITIAL_FORMS": initial,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }


def test_changelist_queries_do_not_grow_with_learners(admin_client, django_assert_max_num_queries):
    LearnerFactory.create_batch(3, roles=["support_specialist", "team_lead"])
    with django_assert_max_num_queries(20) as few:
        admin_client.get(CHANGELIST)
    LearnerFactory.create_batch(30, roles=["support_specialist", "team_lead"])

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert b"support_specialist, team_lead" in response.content


def test_admin_finds_a_learner_by_email(admin_client):
    LearnerFactory(external_id="ada", email="ada@lovelace.example")
    LearnerFactory(external_id="bob")

    response = admin_client.get(CHANGELIST, {"q": "lovelace"})

    assert list(response.context["cl"].result_list.values_list("external_id", flat=True)) == ["ada"]


def test_admin_filters_learners_by_role(admin_client):
    role = RoleFactory(slug="partner_admin")
    LearnerFactory(external_id="ada", roles=[role])
    LearnerFactory(external_id="bob", roles=["support_specialist"])

    response = admin_client.get(CHANGELIST, {"role_assignments__role__id__exact": role.pk})

    assert [learner.external_id for learner in response.context["cl"].result_list] == ["ada"]


def test_admin_creates_a_learner_with_a_role(admin_client):
    role = RoleFactory(slug="support_specialist")
    form = {
        "external_id": "ada",
        "display_name": "Ada",
        "email": "ada@example.com",
        "timezone": "Europe/Berlin",
        "locale": "en",
        "attributes": '{"api_access": true}',
        **_inline_management(total=1),
        "role_assignments-0-role": role.pk,
        "role_assignments-0-source": "manual",
    }

    response = admin_client.post(reverse("admin:identity_learner_add"), form)

    assert response.status_code == 302, response.context["adminform"].errors if response.context else response
    learner = Learner.objects.get(external_id="ada")
    assert learner.attributes == {"api_access": True}
    assert list(RoleAssignment.objects.filter(learner=learner).values_list("role__slug", "source")) == [
        ("support_specialist", "manual")
    ]


def test_admin_shows_a_bad_timezone_on_the_field(admin_client):
    form = {"external_id": "ada", "timezone": "Berlin", "locale": "en", "attributes": "{}", **_inline_management()}

    response = admin_client.post(reverse("admin:identity_learner_add"), form)

    assert response.status_code == 200
    assert "Berlin is not an IANA time zone name" in str(response.context["adminform"].form.errors["timezone"])
    assert not Learner.objects.exists()


def test_admin_removes_a_role_through_the_inline(admin_client):
    learner = LearnerFactory(roles=["support_specialist"])
    assignment = RoleAssignment.objects.get(learner=learner)
    form = {
        "display_name": learner.display_name,
        "email": learner.email,
        "timezone": learner.timezone,
        "locale": "en",
        "attributes": "{}",
        **_inline_management(total=1, initial=1),
        "role_assignments-0-id": assignment.pk,
        "role_assignments-0-learner": learner.pk,
        "role_assignments-0-role": assignment.role_id,
        "role_assignments-0-source": "manual",
        "role_assignments-0-DELETE": "on",
    }

    response = admin_client.post(reverse("admin:identity_learner_change", args=[learner.pk]), form)

    assert response.status_code == 302
    assert not RoleAssignment.objects.filter(learner=learner).exists()


def test_deactivate_action_marks_leavers(admin_client):
    leaver, stayer = LearnerFactory(), LearnerFactory()

    admin_client.post(CHANGELIST, {"action": "deactivate", "_selected_action": [leaver.pk]})

    leaver.refresh_from_db(), stayer.refresh_from_db()
    assert (leaver.is_active, leaver.deactivated_at is not None, stayer.is_active) == (False, True, True)


def test_staff_without_permission_cannot_see_learners(client, staff_without_permission):
    LearnerFactory()
    client.force_login(staff_without_permission)

    assert client.get(CHANGELIST).status_code == 403


def test_roles_changelist_counts_learners(admin_client):
    role = RoleFactory(slug="support_specialist")
    LearnerFactory.create_batch(2, roles=[role])

    response = admin_client.get(reverse("admin:identity_role_changelist"))

    assert [(r.slug, r.learner_count) for r in response.context["cl"].result_list] == [("support_specialist", 2)]


def test_attributes_nested_past_any_limit_are_an_error_on_the_field_not_a_500(admin_client):
    from django.urls import reverse

    deep = "[" * 5000 + "]" * 5000
    form = {"external_id": "deep", "timezone": "UTC", "locale": "en", "attributes": deep, "is_active": "on"}
    form |= {f"role_assignments-{k}": v for k, v in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0}.items()}

    response = admin_client.post(reverse("admin:identity_learner_add"), form)

    assert response.status_code == 200
    assert "Nested too deeply" in str(response.context["adminform"].form.errors["attributes"])
