from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import error_responses
from common.errors import ApplicationError, invalid_input
from identity.authentication import ApiKeyAuthentication, HasScope
from signals_app.api.learners import DecisionOutput
from signals_app.selectors import decisions_for_event, event_of_source
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


class ConflictOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text="The event's index in the batch.")
    id = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField(), help_text="What differs from the stored event.")
    message = serializers.CharField()


class AcceptedOutput(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Events whose id this key had already sent (conflicts included).")
    conflicts = ConflictOutput(
        many=True, help_text="Ids this key had already sent with a different body: the first body is kept."
    )
    warnings = serializers.ListField(
        child=serializers.DictField(),
        help_text="Events stored whose type no standard type nor published playbook reads, or whose module is not "
        "in the content library (each {index, field, code, message}): usually a typo in the sender.",
    )
    not_evaluated = serializers.IntegerField(
        help_text="Of the accepted events, those of deactivated learners: stored (nothing is lost; they are in the "
        "admin and in GET /api/v1/events/{id}) but never evaluated, so they cause no decision."
    )


class EventsIngestApi(APIView):
    """POST one event or ``{"events": [...]}``: 202 once stored, or 400 listing every problem with nothing stored.

    Events of deactivated learners are stored but not evaluated, and counted as ``not_evaluated``: a connector
    catching up on a leaver's last days never has its batch refused."""

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
        body = {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "conflicts": [conflict.as_dict() for conflict in result.conflicts],
            "not_evaluated": result.not_evaluated,
            "warnings": list(result.warnings),
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class EventDetailOutput(serializers.Serializer):
    id = serializers.CharField(source="client_id")
    learner = serializers.CharField(source="learner.external_id")
    type = serializers.CharField()
    module = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    properties = serializers.DictField()
    received_at = serializers.DateTimeField()
    evaluated_at = serializers.DateTimeField(
        source="processed_at",
        allow_null=True,
        help_text="When a worker evaluated it (for an event of a deactivated learner: when it was set aside, never "
        "evaluated); null while it waits.",
    )
    conflicting_retries = serializers.IntegerField(help_text="Retries of this id that carried a different body.")
    decisions = DecisionOutput(source="decisions_list", many=True, help_text="What it caused, in the order decided.")


class EventDetailApi(APIView):
    """One event this key sent, by its id: when it was received and evaluated, and the decisions it led to."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "events:write"

    @extend_schema(responses={200: EventDetailOutput, **error_responses(401, 403, 404)})
    def get(self, request: Request, event_id: str) -> Response:
        event = event_of_source(source=f"key:{request.auth.pk}", client_id=event_id)
        if event is None:
            raise ApplicationError("not_found", f"This key sent no event with id '{event_id}'.", status_code=404)
        event.decisions_list = list(decisions_for_event(event=event))
        return Response(EventDetailOutput(event).data)
