import pytest
from django.urls import reverse

from playbooks.models import ContentModule
from playbooks.services import module_upsert
from tests.factories import ContentModuleFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:playbooks_contentmodule_add")


def _form(**overrides):
    return {
        "slug": "crm-basics",
        "title": "CRM basics",
        "kind": "video",
        "minutes": 12,
        "tags": '["crm"]',
        "is_active": "on",
        "url": "",
        "body": "",
        **overrides,
    }


def test_admin_creates_a_module(admin_client):
    response = admin_client.post(ADD, _form())

    assert response.status_code == 302
    module = ContentModule.objects.get(slug="crm-basics")
    assert (module.kind, module.minutes, module.tags) == ("video", 12, ["crm"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tags", '"crm"', "Tags must be a list of strings"),
        ("tags", '["Not A Tag"]', "Tags are lower-case words"),
        ("minutes", 0, "greater than or equal to 1"),
        ("kind", "podcast", "not one of the available choices"),
    ],
)
def test_admin_shows_bad_input_on_the_field(admin_client, field, value, message):
    response = admin_client.post(ADD, _form(**{field: value}))

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors[field])
    assert not ContentModule.objects.exists()


def test_changelist_searches_tags_and_filters_kind(admin_client):
    ContentModuleFactory(slug="crm-basics", kind="video", tags=["crm"])
    ContentModuleFactory(slug="welcome", kind="article", tags=["basics"])
    url = reverse("admin:playbooks_contentmodule_changelist")

    by_tag = admin_client.get(url, {"q": "crm"}).context["cl"].result_list
    by_kind = admin_client.get(url, {"kind__exact": "article"}).context["cl"].result_list

    assert [m.slug for m in by_tag] == ["crm-basics"]
    assert [m.slug for m in by_kind] == ["welcome"]


def test_upsert_writes_nothing_when_unchanged():
    module, created = module_upsert(slug="welcome", title="Welcome", kind="article", minutes=5, tags=["basics"])
    stamp = module.updated_at

    again, changed = module_upsert(slug="welcome", title="Welcome", kind="article", minutes=5, tags=["basics"])

    assert (created, changed) == (True, False)
    again.refresh_from_db()
    assert again.updated_at == stamp


def test_withdrawing_a_module_from_learners(admin_client):
    module = ContentModuleFactory()

    admin_client.post(
        reverse("admin:playbooks_contentmodule_changelist"), {"action": "deactivate", "_selected_action": [module.pk]}
    )

    module.refresh_from_db()
    assert module.is_active is False
