from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.authentication import ApiKeyAuthentication, HasScope
from signals_app.services import BatchInvalid, events_ingest

# 1,000 events of a few kilobytes each; larger bodies are refused before they are read.
MAX_BODY_BYTES = 5 * 1024 * 1024


class EventsIngestApi(APIView):
    """POST one event or ``{"events": [...]}``: 202 once stored, or 400 listing every problem with nothing stored."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "events:write"

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
            first = exc.errors[0]
            return Response(
                {"code": "invalid", "field": first["field"], "message": first["message"], "errors": exc.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response({"accepted": result.accepted, "duplicates": result.duplicates}, status=status.HTTP_202_ACCEPTED)
