"""The delivery admin: endpoints refused where they lead inside, the outbox's dead letters and "send again"."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from delivery.models import DeliveryPolicy, Message, MessageKind, MessageStatus, WebhookEndpoint
from delivery.services import Outgoing, messages_enqueue
from identity.services import learner_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:delivery_webhookendpoint_add")


@pytest.fixture
def delivery_admin(client):
    user = UserFactory(username="ops", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="delivery"))
    client.force_login(user)
    return client


def _endpoint_form(url: str) -> dict:
    return {"name": "hr-system", "kind": "webhook", "url": url, "is_active": "on", "secret": "whsec_dGVzdA=="}


def test_an_endpoint_into_the_internal_network_is_refused_on_its_field(delivery_admin, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    response = delivery_admin.post(ADD, _endpoint_form("http://169.254.169.254/latest/meta-data/"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["url"]
    assert "resolves to 169.254.169.254, an internal address" in errors[0]
    assert not WebhookEndpoint.objects.exists()


def test_an_allowed_endpoint_is_saved_with_the_secret_offered_on_the_form(delivery_admin, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    offered = delivery_admin.get(ADD).context["adminform"].form["secret"].value()

    response = delivery_admin.post(ADD, {**_endpoint_form("http://127.0.0.1:9/hook"), "secret": offered})

    assert response.status_code == 302
    assert offered.startswith("whsec_") and WebhookEndpoint.objects.get().secret == offered


def test_dead_letters_are_listed_and_can_be_sent_again(delivery_admin):
    learner = learner_create(external_id="ada")
    payload = {"type": "onboarding.trigger.fired", "data": {}}
    outgoing = Outgoing(MessageKind.WEBHOOK, ["webhook"], datetime(2026, 3, 2, tzinfo=UTC), learner.pk, payload=payload)
    message = messages_enqueue(outgoing=[outgoing])[0]
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.DEAD, attempts=8, last_error="HTTP 500")
    changelist = reverse("admin:delivery_message_changelist")

    page = delivery_admin.get(changelist, {"status__exact": "dead"})
    assert "HTTP 500" in page.text

    response = delivery_admin.post(changelist, {"action": "send_again", "_selected_action": [message.pk]}, follow=True)

    assert "1 message(s) will be sent again shortly." in response.text
    message.refresh_from_db()
    assert (message.status, message.attempts, message.history[-1]["outcome"]) == (
        "scheduled",
        0,
        "sent again by ops",
    )


def test_the_site_policy_refuses_half_a_cap(delivery_admin):
    policy = DeliveryPolicy.objects.get()
    url = reverse("admin:delivery_deliverypolicy_change", args=[policy.pk])
    data = {
        "max_messages": "3",
        "per": "",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "8am",
        "channel_caps-TOTAL_FORMS": 0,
        "channel_caps-INITIAL_FORMS": 0,
    }

    response = delivery_admin.post(url, data)

    errors = response.context["adminform"].form.errors
    assert "A cap needs both a number of messages and a period" in errors["per"][0]
    assert "'8am' is not a time of day such as 21:00." in errors["quiet_hours_end"][0]
