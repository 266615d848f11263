import pytest

from onboarding.celery import app as celery_app
from tests.utils import closed_port


def test_healthz_answers_without_touching_services(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_when_database_and_broker_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_it_is_down(client, monkeypatch):
    down = f"redis://127.0.0.1:{closed_port()}/0"
    monkeypatch.setenv("CELERY_BROKER_URL", down)  # Celery reads this variable ahead of its configuration
    monkeypatch.setattr(celery_app.conf, "broker_url", down)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "unavailable"}}


def test_readyz_is_not_cached_and_only_answers_get(client):
    assert client.post("/readyz").status_code == 405
    assert "no-cache" in client.get("/healthz")["Cache-Control"]
