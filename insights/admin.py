"""The insights dashboards in the admin: a Dashboard page on each playbook, its CSV exports, and the learner list
behind each number.

The playbooks app cannot import insights (it sits below), so this module extends its playbook admin and registers
the extended one in its place, as signals_app does for the simulator.
"""

import csv
from urllib.parse import parse_qsl, urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from insights.charts import bar_chart
from insights.drilldown import enrollments_behind
from insights.forms import DashboardForm, DrillForm
from insights.models import Survey
from insights.selectors import FIGURES, Figure
from playbooks.admin.versions import PlaybookAdmin
from playbooks.models import Playbook

PERMISSION = "insights.view_dashboard"
LEARNERS_PER_PAGE = 100
FILTER_FIELDS = ("version", "role", "start", "end", "skip_threshold")

admin.site.unregister(Playbook)


@admin.register(Playbook)
class PlaybookInsightsAdmin(PlaybookAdmin):
    list_display = (*PlaybookAdmin.list_display, "dashboard")
    readonly_fields = (*PlaybookAdmin.readonly_fields, "dashboard")

    @admin.display(description="Insights")
    def dashboard(self, playbook: Playbook) -> str:
        if not playbook.pk:
            return "-"
        return format_html("<a href='{}'>Dashboard</a>", reverse("admin:insights_dashboard", args=[playbook.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/insights/", view(self.dashboard_view), name="insights_dashboard"),
            path("<int:pk>/insights/learners/", view(self.learners_view), name="insights_learners"),
            path("<int:pk>/insights/<slug:figure>.csv", view(self.csv_view), name="insights_csv"),
        ] + super().get_urls()

    def _playbook(self, request: HttpRequest, pk: int) -> Playbook:
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        return get_object_or_404(Playbook, pk=pk)

    def dashboard_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        playbook = self._playbook(request, pk)
        form = DashboardForm(request.GET or None, playbook=playbook)
        filters = form.filters()
        query = _filter_query(request)
        figures = [_render(FIGURES[slug](filters), playbook, query) for slug in FIGURES]
        context = {**self._context(request, playbook, "Dashboard"), "form": form, "figures": figures}
        return TemplateResponse(request, "admin/insights/dashboard.html", context)

    def csv_view(self, request: HttpRequest, pk: int, figure: str) -> HttpResponse:
        playbook = self._playbook(request, pk)
        if figure not in FIGURES:
            raise Http404("No such figure.")
        result = FIGURES[figure](DashboardForm(request.GET or None, playbook=playbook).filters())
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{playbook.slug}-{figure}.csv"'
        writer = csv.writer(response)
        writer.writerow(result.columns)
        writer.writerows([_csv_value(c.value) for c in row] for row in result.rows)
        return response

    def learners_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        playbook = self._playbook(request, pk)
        drill = DrillForm(request.GET)
        if not drill.is_valid():
            raise Http404("Say which figure's learners to list.")
        filters = DashboardForm(request.GET, playbook=playbook).filters()
        enrollments = enrollments_behind(filters=filters, **drill.cleaned_data)
        page = Paginator(enrollments, LEARNERS_PER_PAGE).get_page(request.GET.get("page"))
        context = {
            **self._context(request, playbook, "Learners"),
            "page": page,
            "drill": drill.cleaned_data,
            "filters": filters,
            "dashboard_url": reverse("admin:insights_dashboard", args=[pk]) + "?" + _filter_query(request),
            "query": urlencode([(k, v) for k, v in request.GET.items() if k != "page"]),
        }
        return TemplateResponse(request, "admin/insights/learners.html", context)

    def _context(self, request: HttpRequest, playbook: Playbook, title: str) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "playbook": playbook,
            "title": f"{title}: {playbook}",
        }


def _filter_query(request: HttpRequest) -> str:
    return urlencode([(k, request.GET[k]) for k in FILTER_FIELDS if request.GET.get(k)])


def _render(figure: Figure, playbook: Playbook, query: str) -> dict:
    """A figure with its chart drawn and each number's link to the learners behind it."""
    learners = reverse("admin:insights_learners", args=[playbook.pk])
    rows = [
        [
            (
                "" if cell.value is None else _text(cell.value, figure.columns[i]),
                f"{learners}?{_merge(query, cell.drill)}" if cell.drill and cell.value else "",
            )
            for i, cell in enumerate(row)
        ]
        for row in figure.rows
    ]
    return {
        "figure": figure,
        "rows": rows,
        "chart": bar_chart(title=figure.title, bars=figure.bars, targets=figure.target or None),
        "csv": reverse("admin:insights_csv", args=[playbook.pk, figure.slug]) + (f"?{query}" if query else ""),
    }


def _merge(query: str, drill: dict[str, str]) -> str:
    # The figure's own version (a row per version) wins over the filter's.
    base = [(k, v) for k, v in parse_qsl(query) if k != "version"]
    version = drill.get("version") or dict(parse_qsl(query)).get("version", "")
    return urlencode([*base, *((k, v) for k, v in drill.items() if v and k != "version"), ("version", version)])


def _csv_value(value: object) -> object:
    return "" if value is None else " | ".join(value) if isinstance(value, list) else value


def _text(value: object, column: str) -> str:
    if isinstance(value, list):  # a figure's texts, such as the latest comments
        return " | ".join(value)
    return f"{value:.1%}" if isinstance(value, float) and "rate" in column else str(value)


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    """Which modules ask a micro-survey once completed; the answers are on each playbook's dashboard."""

    list_display = ("module", "question", "is_active", "updated_at")
    list_filter = ("is_active",)
    list_select_related = ("module",)
    search_fields = ("module__slug", "module__title")
    autocomplete_fields = ("module",)


from insights import admin_experiments  # noqa: E402, F401 - the experiments' admin pages
