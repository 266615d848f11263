"""Every API error has the same body, whatever raised it."""

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import serializers
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from common.errors import ApplicationError
from tests.factories import UserFactory


class EventInputSerializer(serializers.Serializer):
    class ItemSerializer(serializers.Serializer):
        type = serializers.RegexField(r"^[a-z_]+$")
        occurred_at = serializers.DateTimeField()

    events = ItemSerializer(many=True)


class ExampleApi(APIView):
    """Raises whatever the test asks for, the way services and serializers do."""

    def post(self, request):
        kind = request.query_params.get("raise")
        if kind == "application":
            raise ApplicationError(
                "learner_inactive",
                "This learner was deactivated; reactivate them first.",
                field="learner",
                status_code=409,
            )
        if kind == "django":
            raise DjangoValidationError({"timezone": ["Mars/Olympus is not an IANA time zone name."]})
        if kind == "missing":
            raise Http404
        EventInputSerializer(data=request.data).is_valid(raise_exception=True)


def _post(query: str, data=None, user=None):
    request = APIRequestFactory().post(f"/x?raise={query}", data or {}, format="json")
    if user:
        force_authenticate(request, user)
    return ExampleApi.as_view()(request)


@pytest.fixture
def user(db):
    return UserFactory()


def test_application_errors_keep_their_code_status_and_field(user):
    response = _post("application", user=user)

    assert response.status_code == 409
    assert response.data == {
        "code": "learner_inactive",
        "field": "learner",
        "message": "This learner was deactivated; reactivate them first.",
    }


def test_django_validation_errors_name_the_field(user):
    response = _post("django", user=user)

    assert response.status_code == 400
    assert response.data["field"] == "timezone"
    assert response.data["errors"] == [
        {"field": "timezone", "code": "invalid", "message": "Mars/Olympus is not an IANA time zone name."}
    ]


def test_nested_serializer_errors_give_the_path_to_the_bad_item(user):
    data = {"events": [{"type": "ok", "occurred_at": "2026-03-02T09:00:00Z"}, {"type": "Bad Type"}]}

    response = _post("", data, user=user)

    assert response.status_code == 400
    assert {(e["field"], e["code"]) for e in response.data["errors"]} == {
        ("events.1.type", "invalid"),
        ("events.1.occurred_at", "required"),
    }
    assert response.data["code"] == "invalid"


def test_unauthenticated_and_not_found_use_the_same_shape(user):
    assert _post("").data == {
        "code": "not_authenticated",
        "field": None,
        "message": "Authentication credentials were not provided.",
    }
    assert _post("missing", user=user).data == {"code": "not_found", "field": None, "message": "Not found."}
