import pytest
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from identity.services import learner_token_create
from tests.factories import api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight_limit(monkeypatch):
    # DRF reads the rates into the class when it is imported; the setting itself is API_RATE_LIMIT.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"caller": "3/minute"})
    cache.clear()
    yield
    cache.clear()


def test_each_caller_has_its_own_allowance(client, learner, tight_limit):
    service, _ = api_key("learners:read")
    mine = learner_token_create(learner=learner, name="t").key
    url = "/api/v1/learners/alice/next-module"

    answers = [client.get(url, HTTP_AUTHORIZATION=f"Api-Key {service}").status_code for _ in range(4)]
    own = client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {mine}")

    assert answers == [200, 200, 200, 429]
    assert own.status_code == 200  # another caller, another allowance
    throttled = client.get(url, HTTP_AUTHORIZATION=f"Api-Key {service}")
    assert throttled.json()["code"] == "throttled" and "Retry-After" in throttled
