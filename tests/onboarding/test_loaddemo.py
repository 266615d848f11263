import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from identity.models import Learner, Role, RoleAssignment
from identity.selectors import learner_list, learner_role_slugs
from playbooks.models import ContentModule

pytestmark = pytest.mark.django_db


def _snapshot() -> dict:
    return {
        "modules": list(ContentModule.objects.values_list("slug", "title", "updated_at")),
        "roles": list(Role.objects.values_list("slug", "updated_at")),
        "learners": list(Learner.objects.values_list("external_id", "attributes", "updated_at")),
        "assignments": list(RoleAssignment.objects.values_list("pk", "learner__external_id", "role__slug")),
        "users": list(get_user_model().objects.values_list("username", "password", "is_superuser")),
    }


def test_it_loads_the_support_specialist_content_and_demo_people(capsys):
    call_command("loaddemo", password="demo-pass-123")

    assert ContentModule.objects.count() == 10
    assert ContentModule.objects.get(slug="crm-basics").kind == "video"
    alex = learner_list().get(external_id="demo-alex")
    assert learner_role_slugs(learner=alex) == ["support_specialist"]
    assert alex.attributes["api_access"] is True and alex.user.check_password("demo-pass-123")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("demo-pass-123")
    assert "Demo loaded" in capsys.readouterr().out


def test_running_it_twice_changes_nothing(capsys):
    call_command("loaddemo", password="demo-pass-123")
    before = _snapshot()

    call_command("loaddemo", password="demo-pass-123")

    assert _snapshot() == before
    assert "nothing changed" in capsys.readouterr().out


def test_it_refuses_where_demo_data_is_disabled(settings):
    settings.DEMO_DATA_ALLOWED = False

    with pytest.raises(CommandError, match="DEMO_DATA_ALLOWED"):
        call_command("loaddemo")

    assert not get_user_model().objects.filter(username="admin").exists()
