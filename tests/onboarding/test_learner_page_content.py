"""The learner page reads as a product: the module's content rendered from Markdown and sanitised, the reason in
plain words (never the rule's condition), the learner's own reminder settings, and their language."""

import pytest

from delivery.models import LearnerPreference
from onboarding.demo import DEMO_PLAYBOOK
from playbooks.models import ContentModule
from playbooks.services import learner_enroll, playbook_import
from signals_app.services import events_ingest, learner_evaluate_pending

pytestmark = pytest.mark.django_db

HOME = "/learn/"


@pytest.fixture
def alice(client, learner):
    """Alice in the demo playbook, after finishing the welcome module in 12 seconds (the guided demo inserted)."""
    playbook_import(text=DEMO_PLAYBOOK.read_text(), publish=True)
    learner_enroll(learner=learner)
    body = {
        "id": "e1",
        "learner": "alice",
        "type": "module_completed",
        "module": "welcome",
        "occurred_at": "2026-03-02T09:01:00Z",
        "properties": {"duration_seconds": 12},
    }
    events_ingest(body=body, source="key:9")
    learner_evaluate_pending(learner_id=learner.pk)
    client.force_login(learner.user)
    return learner


def test_the_reason_is_the_rules_explain_sentence_and_never_its_condition(client, alice):
    page = client.get(HOME).content.decode()

    assert "Next: Guided demo" in page
    assert "You finished that module in 12 seconds, so here is a guided demo of it." in page
    assert "duration_seconds" not in page and "module_completed" not in page and "Rule:" not in page


def test_the_modules_markdown_is_rendered_and_sanitised(client, alice):
    ContentModule.objects.filter(slug="remedial-demo").update(
        body="## Watch first\n\n1. **Pause** often\n2. See [the guide](https://docs.example.com/guide)\n\n"
        "<script>alert(1)</script> [bad](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )

    page = client.get(HOME).content.decode()

    assert "<h2>Watch first</h2>" in page and "<li><strong>Pause</strong> often</li>" in page
    assert '<a href="https://docs.example.com/guide" rel="noopener noreferrer nofollow">the guide</a>' in page
    content = page[page.index('<div class="content">') :]
    assert "<script" not in content and 'href="javascript' not in content and "<img" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content  # shown as the text it is


def test_the_demo_modules_have_real_content(client, alice):
    bodies = dict(ContentModule.objects.values_list("slug", "body"))

    assert all(len(body) > 150 for body in bodies.values()), [slug for slug, body in bodies.items() if len(body) <= 150]


def test_a_learner_sets_quiet_hours_a_snooze_and_opt_outs(client, alice):
    response = client.post(
        "/learn/preferences",
        {
            "quiet_hours_start": "19:00",
            "quiet_hours_end": "08:00",
            "snoozed_until": "2026-03-09",
            "opted_out": ["email"],
        },
        follow=True,
    )

    row = LearnerPreference.objects.get(learner=alice)
    assert (row.quiet_hours_start, row.quiet_hours_end, str(row.snoozed_until), row.opted_out) == (
        "19:00",
        "08:00",
        "2026-03-09",
        ["email"],
    )
    page = response.content.decode()
    assert "Your reminder settings are saved." in page and "Reminders are snoozed until 2026-03-09." in page
    assert 'value="email" checked' in page and 'value="19:00"' in page


def test_wrong_settings_are_named_and_nothing_is_saved(client, alice):
    client.post("/learn/preferences", {"quiet_hours_start": "19:00", "quiet_hours_end": "08:00"})

    response = client.post(
        "/learn/preferences", {"quiet_hours_start": "19:00", "quiet_hours_end": "", "opted_out": ["fax"]}, follow=True
    )

    page = response.content.decode()
    assert "Quiet hours need both a start and an end, or neither." in page
    assert "Channels to opt out of are among email, slack, webhook." in page
    row = LearnerPreference.objects.get(learner=alice)
    assert (row.quiet_hours_start, row.quiet_hours_end, row.opted_out) == ("19:00", "08:00", [])


def test_the_api_reads_and_writes_the_same_settings(client, alice):
    url = "/api/v1/me/preferences"
    body = {"quiet_hours_start": "22:00", "quiet_hours_end": "07:00", "snoozed_until": None, "opted_out": ["slack"]}

    assert client.put(url, body, content_type="application/json").json() == body
    assert client.get(url).json() == body
    refused = client.put(url, {**body, "opted_out": ["fax"]}, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["field"] == "opted_out.0"
    assert client.get(url).json() == body


def test_the_page_speaks_the_learners_locale(client, alice):
    alice.locale = "fr-CA"
    alice.save(update_fields=["locale"])

    response = client.get(HOME)

    page = response.content.decode()
    assert '<html lang="fr">' in page and response["Content-Language"] == "fr"
    assert "Prochaine étape : Guided demo" in page and "Vos rappels" in page and "Se déconnecter" in page


def test_the_sign_in_page_speaks_the_browsers_language(client):
    french = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9").content.decode()
    english = client.get("/accounts/login/").content.decode()

    assert "Connectez-vous à votre intégration" in french and "Sign in to your onboarding" in english


def test_a_locale_the_site_lacks_falls_back_to_english(client, alice):
    alice.locale = "ja"
    alice.save(update_fields=["locale"])

    assert "Next: Guided demo" in client.get(HOME).content.decode()
