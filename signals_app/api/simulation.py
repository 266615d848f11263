"""``POST /api/v1/playbooks/{slug}/simulate``: a journey (docs/journeys.md, as JSON) run through the simulator."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import error_responses
from common.errors import ApplicationError, invalid_input
from identity.authentication import ApiKeyAuthentication, HasScope
from playbooks.engine.journeys import JourneyInvalid
from playbooks.selectors import version_get
from signals_app.services.simulation import journey_simulate


class JourneyEventDoc(serializers.Serializer):
    at = serializers.CharField(help_text="Offset from start: 0m, 90s, 1d2h.")
    type = serializers.CharField()
    module = serializers.CharField(required=False)
    properties = serializers.DictField(required=False)


class JourneyInput(serializers.Serializer):
    playbook = serializers.CharField(required=False, help_text="Defaults to the playbook in the URL.")
    learner = serializers.DictField(help_text="{external_id, roles, attributes, timezone}")
    params = serializers.DictField(
        required=False, help_text="Values of the playbook's parameters to run under, e.g. an experiment arm's."
    )
    start = serializers.DateTimeField()
    events = JourneyEventDoc(many=True)
    until = serializers.CharField(required=False, help_text="Run the simulated clock to this offset, e.g. 3d.")
    expect = serializers.ListField(child=serializers.DictField(), required=False)


class ExpectationOutput(serializers.Serializer):
    kind = serializers.CharField()
    at = serializers.CharField(allow_null=True)
    expected = serializers.JSONField()
    actual = serializers.JSONField()
    passed = serializers.BooleanField()
    message = serializers.CharField()
    decisions = serializers.ListField(child=serializers.DictField(), required=False)


class SimulationOutput(serializers.Serializer):
    playbook = serializers.CharField()
    version = serializers.IntegerField()
    version_status = serializers.CharField()
    learner = serializers.CharField()
    params = serializers.DictField(help_text="The parameter values it ran under, over the version's defaults.")
    start = serializers.CharField()
    until = serializers.CharField()
    enrolled = serializers.BooleanField()
    timeline = serializers.ListField(child=serializers.DictField(), help_text="Entries with at, offset and kind.")
    final = serializers.DictField()
    expectations = ExpectationOutput(many=True)
    passed = serializers.BooleanField()


class PlaybookSimulateApi(APIView):
    """Run a synthetic learner's journey against the playbook's published version (or ``?version=N``, e.g. a draft).

    Nothing is stored. 200 with the timeline and each expectation's result, whether they passed or not; 400 when the
    journey cannot run, listing every problem by path.
    """

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "playbooks:simulate"

    @extend_schema(
        request=JourneyInput,
        parameters=[OpenApiParameter("version", OpenApiTypes.INT, description="A version number; default: published")],
        responses={200: SimulationOutput, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, slug: str) -> Response:
        number = request.query_params.get("version")
        if number is not None and not number.isdigit():
            raise ApplicationError("invalid", "version: expected a version number, e.g. 2", field="version")
        version = version_get(slug=slug, number=int(number) if number else None)
        if version is None:
            raise ApplicationError(
                "not_found", f"No playbook '{slug}'{f' version {number}' if number else ''}.", status_code=404
            )
        document = request.data
        if not isinstance(document, dict):
            raise ApplicationError("invalid", "Send the journey as a JSON object (docs/journeys.md).")
        try:
            result = journey_simulate(document={"playbook": slug, **document}, version=version)
        except JourneyInvalid as exc:
            errors = [{"field": e.path, "code": "invalid", "message": e.message} for e in exc.errors]
            raise invalid_input(errors) from exc
        return Response(result.as_dict())
