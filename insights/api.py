"""The dashboards' figures as JSON for BI tools: ``GET /api/v1/analytics/playbooks/{slug}[/{figure}]`` with a service
key holding ``analytics:read``. The same selectors (and rollups) as the admin's dashboard, so the numbers agree."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import error_responses
from common.errors import ApplicationError
from identity.authentication import ApiKeyAuthentication, HasScope
from identity.models import Role
from insights.selectors import DEFAULT_SKIP_THRESHOLD, FIGURES, Figure, Filters
from playbooks.models import Playbook, PlaybookVersion


class FiltersInput(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1, help_text="A version number; default: all.")
    role = serializers.SlugField(required=False, help_text="The learners' primary role (a role slug).")
    start = serializers.DateField(required=False, help_text="First UTC day, e.g. 2026-11-01.")
    end = serializers.DateField(required=False, help_text="Last UTC day.")
    skip_threshold = serializers.FloatField(
        required=False, min_value=0.01, max_value=1, help_text=f"Skip rates above it are called out (default "
        f"{DEFAULT_SKIP_THRESHOLD})."
    )  # fmt: skip

    def validate_role(self, role: str) -> str:
        if not Role.objects.filter(slug=role).exists():
            raise serializers.ValidationError(f"No role '{role}'.")
        return role

    def validate(self, data: dict) -> dict:
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise serializers.ValidationError({"start": "The start day comes after the end day."})
        return data


class FigureOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(), help_text="One list per row, in the columns' order.")
    callouts = serializers.ListField(child=serializers.CharField(), help_text="What the figure calls out.")
    note = serializers.CharField()


class FiguresOutput(serializers.Serializer):
    playbook = serializers.CharField()
    filters = serializers.DictField()
    figures = FigureOutput(many=True)


def _figure_body(figure: Figure) -> dict:
    return {
        "slug": figure.slug,
        "title": figure.title,
        "columns": figure.columns,
        "rows": [[cell.value for cell in row] for row in figure.rows],
        "callouts": figure.callouts,
        "note": figure.note,
    }


class AnalyticsApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "analytics:read"

    def _filters(self, request: Request, slug: str) -> tuple[Playbook, Filters, dict]:
        playbook = get_object_or_404(Playbook, slug=slug)
        given = FiltersInput(data=request.query_params)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        version = None
        if "version" in data:
            version = PlaybookVersion.objects.filter(playbook=playbook, number=data["version"]).first()
            if version is None:
                message = f"Playbook '{slug}' has no version {data['version']}."
                raise ApplicationError("not_found", message, field="version", status_code=404)
        filters = Filters(
            playbook=playbook,
            version=version,
            role=data.get("role", ""),
            start=data.get("start"),
            end=data.get("end"),
            skip_threshold=data.get("skip_threshold", DEFAULT_SKIP_THRESHOLD),
        )
        shown = {name: str(value) if name in ("start", "end") else value for name, value in data.items()}
        return playbook, filters, shown


class PlaybookAnalyticsApi(AnalyticsApi):
    """Every figure of a playbook's dashboard, under the same filters."""

    @extend_schema(
        operation_id="analytics_playbook",
        parameters=[FiltersInput],
        responses={200: FiguresOutput, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        playbook, filters, shown = self._filters(request, slug)
        figures = [_figure_body(figure(filters)) for figure in FIGURES.values()]
        return Response({"playbook": playbook.slug, "filters": shown, "figures": figures})


class PlaybookFigureApi(AnalyticsApi):
    """One figure of a playbook's dashboard: completion, time-to-competency, funnel, skip-rate, time-per-module,
    triggers, reminders, latency or surveys."""

    @extend_schema(
        operation_id="analytics_playbook_figure",
        parameters=[FiltersInput],
        responses={200: FigureOutput, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, slug: str, figure: str) -> Response:
        if figure not in FIGURES:
            raise ApplicationError(
                "not_found", f"No figure '{figure}'; the figures are {', '.join(FIGURES)}.", status_code=404
            )
        _playbook, filters, _shown = self._filters(request, slug)
        return Response(_figure_body(FIGURES[figure](filters)))
