"""Sending journeys' events live through the API, for the pipeline and fault tests."""

from datetime import datetime

from django.test import Client

from identity.services import learner_create, role_upsert
from playbooks.engine.durations import parse_duration
from signals_app.models import Event


def journey_start(journey: dict) -> datetime:
    return datetime.fromisoformat(journey["start"].replace("Z", "+00:00"))


def journey_learner(journey: dict, external_id: str | None = None):
    spec = journey["learner"]
    roles = [role_upsert(slug=slug, name=slug) for slug in spec.get("roles", [])]
    return learner_create(
        external_id=external_id or spec["external_id"],
        roles=roles,
        attributes=spec.get("attributes", {}),
        timezone=spec.get("timezone", "UTC"),
    )


def journey_events(journey: dict, external_id: str, *, until: str | None = None, after: str | None = None) -> list:
    """The journey's events as API items, those with ``after < at <= until``."""
    began = journey_start(journey)
    items = []
    for number, item in enumerate(journey["events"]):
        offset = parse_duration(item["at"])
        if (until and offset > parse_duration(until)) or (after and offset <= parse_duration(after)):
            continue
        items.append(
            {
                "id": f"{external_id}-{number}",
                "learner": external_id,
                "type": item["type"],
                "module": item.get("module", ""),
                "occurred_at": (began + offset).isoformat(),
                "properties": item.get("properties") or {},
            }
        )
    return items


def post_events(client: Client, key: str, items: list) -> dict:
    response = client.post(
        "/api/v1/events", {"events": items}, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )
    assert response.status_code == 202, response.content
    return response.json()


def all_processed() -> bool:
    return not Event.objects.filter(processed_at__isnull=True).exists()
