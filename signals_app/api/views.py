from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import error_responses
from common.errors import invalid_input
from identity.authentication import ApiKeyAuthentication, HasScope
from signals_app.services import BatchInvalid, events_ingest

# 1,000 events of a few kilobytes each; larger bodies are refused before they are read.
MAX_BODY_BYTES = 5 * 1024 * 1024


class EventInputDoc(serializers.Serializer):
    id = serializers.CharField(max_length=200, help_text="The client's id for the event, unique per API key.")
    learner = serializers.CharField(help_text="The learner's external id.")
    type = serializers.RegexField(r"^[a-z][a-z0-9_]{0,63}$", help_text="module_completed, ticket_submitted, …")
    module = serializers.CharField(required=False, allow_blank=True, help_text="A content module's slug.")
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with a zone; at most 5 minutes in the future.")
    properties = serializers.DictField(required=False, help_text="At most 8 KB of JSON.")


class EventBatchDoc(serializers.Serializer):
    events = EventInputDoc(many=True, help_text="1 to 1,000 events.")


class AcceptedOutput(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Events whose id this key had already sent.")


class EventsIngestApi(APIView):
    """POST one event or ``{"events": [...]}``: 202 once stored, or 400 listing every problem with nothing stored."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "events:write"

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="EventsInput", serializers=[EventInputDoc, EventBatchDoc], resource_type_field_name=None
        ),
        responses={202: AcceptedOutput, **error_responses(400, 401, 403, 413)},
    )
    def post(self, request: Request) -> Response:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY_BYTES:
            return Response(
                {
                    "code": "body_too_large",
                    "field": None,
                    "message": f"The body is {length} bytes; send at most {MAX_BODY_BYTES} per request.",
                },
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        api_key = request.auth
        try:
            result = events_ingest(
                body=request.data, source=f"key:{api_key.pk}", can_create_learners=api_key.can_create_learners
            )
        except BatchInvalid as exc:
            raise invalid_input(exc.errors) from exc
        return Response({"accepted": result.accepted, "duplicates": result.duplicates}, status=status.HTTP_202_ACCEPTED)
