"""The admin's trigger form edits a rule's explain sentence, checked as the file's ``explain:`` is."""

import pytest
from django.urls import reverse

from playbooks.models import Playbook, Trigger
from playbooks.services import draft_create, playbook_import
from tests.playbooks.test_admin_playbooks import PLAYBOOK, _draft_form, _trigger_rows

pytestmark = pytest.mark.django_db


def _post(admin_client, explain: str):
    playbook_import(text=PLAYBOOK, publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    triggers = _trigger_rows(draft)
    triggers[1]["explain"] = explain
    url = reverse("admin:playbooks_playbookversion_change", args=[draft.pk])
    return draft, admin_client.post(url, _draft_form(draft, triggers))


def test_an_explain_with_an_unknown_name_shows_the_message_and_a_caret_on_its_field(admin_client):
    draft, response = _post(admin_client, "You skipped {skip_streek} modules in a row")

    errors = str(response.context["inline_admin_formsets"][2].formset.forms[1].errors["explain"])
    assert "unknown name &#x27;skip_streek&#x27; in braces at column 13" in errors
    assert "did you mean &#x27;skip_streak&#x27;?" in errors
    assert "<pre>You skipped {skip_streek} modules in a row\n            ^</pre>" in errors
    assert Trigger.objects.get(version=draft, name="skip streak review").explain == ""


def test_a_valid_explain_is_saved_on_the_trigger(admin_client):
    draft, response = _post(admin_client, "You skipped {skip_streak} modules in a row, so a coach will call you.")

    assert response.status_code == 302
    saved = Trigger.objects.get(version=draft, name="skip streak review").explain
    assert saved == "You skipped {skip_streak} modules in a row, so a coach will call you."
