import pytest
from django.core.exceptions import ValidationError

from identity import services
from identity.models import Learner, RoleAssignment, RoleSource
from identity.selectors import learner_list, learner_role_slugs
from tests.factories import LearnerFactory, RoleFactory

pytestmark = pytest.mark.django_db


def test_it_creates_a_learner_with_roles_from_a_source():
    role = RoleFactory(slug="support_specialist")

    learner = services.learner_create(
        external_id="ada", email="ada@example.com", timezone="Europe/Berlin", roles=[role], source=RoleSource.LDAP
    )

    assignment = RoleAssignment.objects.get(learner=learner)
    assert (assignment.role.slug, assignment.source) == ("support_specialist", "ldap")
    assert learner.is_active and learner.locale == "en"


def test_it_rejects_an_unknown_timezone_naming_the_field():
    with pytest.raises(ValidationError) as error:
        services.learner_create(external_id="ada", timezone="Mars/Olympus")

    assert "timezone" in error.value.message_dict
    assert "Mars/Olympus is not an IANA time zone" in error.value.message_dict["timezone"][0]
    assert not Learner.objects.exists()


def test_it_rejects_attribute_names_unusable_in_conditions():
    with pytest.raises(ValidationError) as error:
        services.learner_create(external_id="ada", attributes={"api access": True})

    assert "api access" in error.value.message_dict["attributes"][0]


def test_a_failed_create_writes_no_half_learner():
    with pytest.raises(ValidationError) as error:
        services.learner_create(external_id="ada", roles=[RoleFactory()], source="carrier-pigeon")

    assert "'carrier-pigeon' is not a role source" in error.value.message_dict["source"][0]

    assert not Learner.objects.filter(external_id="ada").exists()


def test_update_saves_only_what_changed():
    learner = LearnerFactory(display_name="Ada")
    stamp = learner.updated_at

    services.learner_update(learner=learner, data={"display_name": "Ada"})
    learner.refresh_from_db()
    assert learner.updated_at == stamp

    services.learner_update(learner=learner, data={"display_name": "Ada Lovelace"})
    learner.refresh_from_db()
    assert (learner.display_name, learner.updated_at > stamp) == ("Ada Lovelace", True)


def test_external_id_cannot_be_edited():
    learner = LearnerFactory()

    with pytest.raises(TypeError, match="external_id"):
        services.learner_update(learner=learner, data={"external_id": "someone-else"})


def test_deactivating_twice_keeps_the_first_timestamp():
    learner = LearnerFactory()
    services.learner_deactivate(learner=learner)
    first = learner.deactivated_at

    services.learner_deactivate(learner=Learner.objects.get(pk=learner.pk))

    learner.refresh_from_db()
    assert not learner.is_active and learner.deactivated_at == first


def test_reactivating_clears_the_deactivation():
    learner = LearnerFactory()
    services.learner_deactivate(learner=learner)

    services.learner_reactivate(learner=learner)

    learner.refresh_from_db()
    assert learner.is_active and learner.deactivated_at is None


def test_role_assign_is_idempotent():
    learner, role = LearnerFactory(), RoleFactory()

    services.role_assign(learner=learner, role=role, source=RoleSource.SCIM)
    services.role_assign(learner=learner, role=role, source=RoleSource.SCIM)

    assert RoleAssignment.objects.filter(learner=learner).count() == 1


def test_a_source_withdrawing_a_role_leaves_other_sources_claims():
    learner, role = LearnerFactory(), RoleFactory(slug="support_specialist")
    services.role_assign(learner=learner, role=role, source=RoleSource.LDAP)
    services.role_assign(learner=learner, role=role, source=RoleSource.MANUAL)

    services.role_unassign(learner=learner, role=role, source=RoleSource.LDAP)

    assert learner_role_slugs(learner=learner_list().get(pk=learner.pk)) == ["support_specialist"]
    services.role_unassign(learner=learner, role=role, source=RoleSource.MANUAL)
    assert learner_role_slugs(learner=learner_list().get(pk=learner.pk)) == []


def test_roles_are_listed_oldest_first_without_duplicates(django_assert_num_queries):
    learner = LearnerFactory(roles=["support_specialist", "team_lead"])
    services.role_assign(learner=learner, role=RoleFactory(slug="support_specialist"), source=RoleSource.FILE)

    with django_assert_num_queries(2):  # the learners, then all their assignments with roles
        loaded = learner_list().get(pk=learner.pk)
        slugs = learner_role_slugs(learner=loaded)

    assert slugs == ["support_specialist", "team_lead"]
