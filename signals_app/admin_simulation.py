"""The simulator in the admin: a Simulate page and a Cohort page on each playbook version, the saved journeys' results
on the version's page, and the cohort runs.

The playbooks app cannot import the simulator (it sits below signals_app), so this module extends its version
admin and registers the extended one in its place.
"""

import yaml
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from playbooks.admin.versions import PlaybookVersionAdmin
from playbooks.engine.cohorts import CohortInvalid
from playbooks.engine.document import (
    COHORT_TEMPLATE_YAML,
    JOURNEY_YAML,
    YamlKind,
    load_yaml,
    yaml_bytes_problem,
    yaml_size_problem,
)
from playbooks.engine.journeys import JourneyInvalid
from playbooks.engine.map_layout import playbook_diagram
from playbooks.engine.playbook_map import route_from_timeline
from playbooks.engine.spec import PlaybookInvalid, SpecError
from playbooks.models import PlaybookVersion, VersionStatus
from playbooks.selectors import version_spec
from playbooks.services import version_tests_set
from signals_app.cohort_report import cohort_rows
from signals_app.map_counts import version_decision_rows
from signals_app.models import CohortRun, CohortRunStatus
from signals_app.services.cohorts import cohort_report_from_dict, cohort_run_start
from signals_app.services.simulation import journey_simulate, saved_journeys_run

MAX_ADMIN_COHORT = 5_000
# 5,000 learners of a few hundred bytes each; checked by size before the upload is read.
MAX_LEARNERS_CSV_BYTES = 5_000_000


def _refusal(problem: str) -> ValidationError:
    return ValidationError(problem[0].upper() + problem[1:] + ".", code="too_large")


def _checked_upload(upload: UploadedFile | None, kind: YamlKind) -> UploadedFile | None:
    """An uploaded YAML file, refused by its size (never read) when it is larger than ``kind`` allows."""
    problem = yaml_bytes_problem(upload.size, kind) if upload is not None else None
    if problem:
        raise _refusal(problem)
    return upload


class JourneyForm(forms.Form):
    journey = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 22, "cols": 100, "class": "vLargeTextField", "spellcheck": "false"}),
        required=False,
        help_text="A journey in YAML (docs/journeys.md), at most 2 MB. 'playbook' may be left out: this version "
        "is used. 'params: {name: value}' runs it under an experiment arm's parameter values.",
    )
    upload = forms.FileField(required=False, help_text="Or upload a journey file instead (at most 2 MB).")
    save_as = forms.CharField(
        required=False,
        max_length=100,
        help_text="Drafts only: also save the journey as one of this version's tests, under this name.",
    )

    def clean_upload(self) -> UploadedFile | None:
        return _checked_upload(self.cleaned_data["upload"], JOURNEY_YAML)


class CohortForm(forms.Form):
    template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 22, "cols": 100, "class": "vLargeTextField", "spellcheck": "false"}),
        help_text="A journey template (at most 1 MB): values may be {between: [low, high]} or {choice: [...]}, "
        "events may have a 'probability'.",
    )
    learners = forms.IntegerField(min_value=1, max_value=MAX_ADMIN_COHORT, required=False, initial=200)
    learners_csv = forms.FileField(
        required=False,
        label="Learners CSV",
        help_text="external_id, roles (a;b), timezone, attributes.NAME (at most 5 MB)",
    )
    against = forms.ModelChoiceField(queryset=PlaybookVersion.objects.none(), required=False, label="Compare with")

    def clean_template(self) -> str:
        template = self.cleaned_data["template"]
        problem = yaml_size_problem(template, COHORT_TEMPLATE_YAML)
        if problem:
            raise _refusal(problem)
        return template

    def clean_learners_csv(self) -> UploadedFile | None:
        upload = self.cleaned_data["learners_csv"]
        if upload is not None and upload.size > MAX_LEARNERS_CSV_BYTES:
            raise ValidationError(
                f"A learners CSV is at most {MAX_LEARNERS_CSV_BYTES / 1_000_000:g} MB "
                f"({MAX_LEARNERS_CSV_BYTES:,} bytes); this one is {upload.size:,} bytes.",
                code="too_large",
            )
        return upload


admin.site.unregister(PlaybookVersion)


@admin.register(PlaybookVersion)
class PlaybookVersionSimulationAdmin(PlaybookVersionAdmin):
    readonly_fields = (*PlaybookVersionAdmin.readonly_fields, "saved_journey_results")

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = [list(fieldset) for fieldset in super().get_fieldsets(request, obj)]
        for fieldset in fieldsets:
            if fieldset[0] == "Saved journeys":
                fieldset[1] = {**fieldset[1], "fields": ("tests", "saved_journey_results")}
        return fieldsets

    @admin.display(description="Results of the saved journeys")
    def saved_journey_results(self, version: PlaybookVersion) -> str:
        if not version.pk or not version.tests:
            return "No saved journeys yet: add them here or from the Simulate page."
        try:
            runs = saved_journeys_run(version=version)
        except (JourneyInvalid, PlaybookInvalid) as exc:
            return format_html("Cannot run: {}", "; ".join(map(str, exc.errors)))
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><strong>{}</strong> {}{}</li>",
                (
                    (
                        "PASS" if run.result.passed else "FAIL",
                        run.name,
                        ""
                        if run.result.passed
                        else ": " + "; ".join(e.message for e in run.result.expectations if not e.passed),
                    )
                    for run in runs
                ),
            ),
        )

    def map_rows(self, version: PlaybookVersion) -> dict:
        return {**super().map_rows(version), **version_decision_rows(version=version)}

    def tools(self, version: PlaybookVersion) -> str:
        links = super().tools(version)
        if not version.pk:
            return links
        return format_html(
            "<a href='{}'>Map</a> · {} · <a href='{}'>Simulate a journey</a> · <a href='{}'>Simulate a cohort</a>",
            reverse("admin:playbooks_playbookversion_map", args=[version.pk]),
            links,
            reverse("admin:playbooks_playbookversion_simulate", args=[version.pk]),
            reverse("admin:playbooks_playbookversion_cohort", args=[version.pk]),
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/simulate/", view(self.simulate_view), name="playbooks_playbookversion_simulate"),
            path("<int:pk>/cohort/", view(self.cohort_view), name="playbooks_playbookversion_cohort"),
        ] + super().get_urls()

    def _version(self, request: HttpRequest, pk: int) -> PlaybookVersion:
        version = get_object_or_404(PlaybookVersion.objects.select_related("playbook"), pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        return version

    def _context(self, request: HttpRequest, version: PlaybookVersion, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "version": version,
            "title": f"{title}: {version}",
            **extra,
        }

    def simulate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version(request, pk)
        form = JourneyForm(request.POST or None, request.FILES or None, initial={"journey": _sample_journey(version)})
        result, errors = None, []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["upload"]
            text = upload.read().decode("utf-8", errors="replace") if upload else form.cleaned_data["journey"]
            try:
                document = load_yaml(text, JOURNEY_YAML)
                if not isinstance(document, dict):
                    raise JourneyInvalid([SpecError("journey", "expected a journey (a YAML mapping)")])
                result = journey_simulate(document={"playbook": version.playbook.slug, **document}, version=version)
            except (JourneyInvalid, PlaybookInvalid) as exc:
                errors = exc.errors
            else:
                name = form.cleaned_data["save_as"].strip()
                if name:
                    errors = self._save_test(request, version, name, document)
        diagram = None
        if result is not None:  # the journey's route on the version's map
            spec = version_spec(version=version)
            diagram = playbook_diagram(spec, route=route_from_timeline(spec, result.timeline, result.final))
        context = self._context(
            request, version, "Simulate a journey", form=form, result=result, errors=errors, diagram=diagram
        )
        return TemplateResponse(request, "admin/playbooks/simulate.html", context)

    def _save_test(self, request: HttpRequest, version: PlaybookVersion, name: str, document: dict) -> list:
        if not (version.is_editable and self.has_change_permission(request, version)):
            return [SpecError("save_as", "only a draft's tests can change, by someone allowed to edit it")]
        journey = {key: value for key, value in document.items() if key != "playbook"}
        tests = [test for test in version.tests if test.get("name") != name] + [{"name": name, "journey": journey}]
        try:
            version_tests_set(version=version, tests=tests)
        except PlaybookInvalid as exc:
            return exc.errors
        self.message_user(request, f"Saved as the test '{name}' of {version}.", messages.SUCCESS)
        return []

    def cohort_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version(request, pk)
        others = PlaybookVersion.objects.filter(playbook=version.playbook).exclude(pk=version.pk)
        published = others.filter(status=VersionStatus.PUBLISHED).first()
        form = CohortForm(
            request.POST or None,
            request.FILES or None,
            initial={"template": _sample_template(version), "against": published},
        )
        form.fields["against"].queryset = others
        errors = []
        if request.method == "POST" and form.is_valid():
            if not request.user.has_perm("signals_app.add_cohortrun"):
                raise PermissionDenied
            upload = form.cleaned_data["learners_csv"]
            try:
                run = cohort_run_start(
                    version=version,
                    against=form.cleaned_data["against"],
                    template=form.cleaned_data["template"],
                    learners_csv=upload.read().decode("utf-8", errors="replace") if upload else "",
                    learners=None if upload else form.cleaned_data["learners"],
                    user=request.user,
                )
            except (CohortInvalid, JourneyInvalid, PlaybookInvalid) as exc:
                errors = exc.errors
            else:
                return HttpResponseRedirect(reverse("admin:signals_app_cohortrun_change", args=[run.pk]))
        runs = CohortRun.objects.filter(version=version)[:10]
        context = self._context(request, version, "Simulate a cohort", form=form, errors=errors, runs=runs)
        return TemplateResponse(request, "admin/playbooks/cohort.html", context)


@admin.register(CohortRun)
class CohortRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "against", "status", "progress", "created_by", "created_at")
    list_filter = ("status",)
    list_select_related = ("version__playbook", "against__playbook", "created_by")
    change_form_template = "admin/signals_app/cohortrun/change_form.html"
    readonly_fields = (
        "version",
        "against",
        "status",
        "progress",
        "created_by",
        "created_at",
        "finished_at",
        "error",
        "template_text",
        "learners",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started from a version's Simulate a cohort page

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Progress")
    def progress(self, run: CohortRun) -> str:
        return f"{run.done} of {run.total} learner runs"

    @admin.display(description="Template")
    def template_text(self, run: CohortRun) -> str:
        return format_html("<pre>{}</pre>", run.template)  # YAML: its indentation is its structure

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        run = get_object_or_404(CohortRun.objects.select_related("version__playbook"), pk=object_id)
        reports = [cohort_report_from_dict(data) for data in run.report]
        extra = {
            "run": run,
            "reports": reports,
            "rows": cohort_rows(reports) if reports else [],
            "charts": _charts(reports),
            "running": run.status in (CohortRunStatus.QUEUED, CohortRunStatus.RUNNING),
            "percent": round(100 * run.done / run.total) if run.total else 0,
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})


# Two versions side by side: the version tried (first) and the one it is compared with.
CHART_COLOURS = ("#417690", "#e5a13b")


def _charts(reports) -> list[dict]:
    """Bar charts (shares of the cohort per version) for each branch point, the triggers and completion."""
    if not reports:
        return []
    charts = []
    steps = sorted({step for report in reports for step in report.branches})
    for step in steps:
        choices = sorted({choice for report in reports for choice in report.branches.get(step, {})})
        charts.append(
            _chart(f"Branch '{step}'", choices, lambda r, c, s=step: r.branches.get(s, {}).get(c, 0), reports)
        )
    triggers = sorted({name for report in reports for name in report.triggers})
    if triggers:
        charts.append(_chart("Triggers fired (learners)", triggers, lambda r, name: r.triggers.get(name, 0), reports))
    outcomes = {
        "completed the path": lambda r: r.completed,
        "reminded": lambda r: r.learners_reminded,
        "flagged": lambda r: sum(r.flags.values()),
    }
    charts.append(_chart("Outcomes", list(outcomes), lambda r, label: outcomes[label](r), reports))
    return charts


def _chart(title: str, labels: list[str], count, reports) -> dict:
    """An SVG bar chart's geometry: a row per label, a bar per version (share of the cohort, 0-100 %)."""
    bar, gap, left, width = 14, 10, 200, 360
    rows, y = [], 0
    for label in labels:
        bars = []
        for index, report in enumerate(reports):
            share = report.share(count(report, label))
            length = round(width * share / 100, 1)
            top = y + index * bar
            bars.append(
                {
                    "x": left,
                    "y": top,
                    "width": length,
                    "share": share,
                    "colour": CHART_COLOURS[index % 2],
                    "text_x": left + length + 4,
                    "text_y": top + bar - 3,
                }
            )
        rows.append({"label": label[:32], "label_y": y + bar * len(reports) / 2 + 4, "bars": bars})
        y += bar * len(reports) + gap
    return {"title": title, "rows": rows, "height": y, "width": left + width + 60}


def _sample_journey(version: PlaybookVersion) -> str:
    """The version's first saved journey, else a small one walking its first modules."""
    if version.tests:
        return yaml.safe_dump(version.tests[0]["journey"], sort_keys=False, allow_unicode=True)
    spec = version_spec(version=version)
    modules = [step.module for step in spec.steps if step.module][:2]
    document = {
        "learner": {"external_id": "sim-1", "roles": list(spec.audience.roles[:1]), "timezone": "UTC"},
        "start": "2026-03-02T09:00:00Z",
        "events": [
            {"at": f"{5 * n}m", "type": "module_completed", "module": m, "properties": {"duration_seconds": 90}}
            for n, m in enumerate(modules)
        ],
        "until": "2d",
        "expect": [{"flags": []}],
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _sample_template(version: PlaybookVersion) -> str:
    spec = version_spec(version=version)
    modules = [step.module for step in spec.steps if step.module]
    events = []
    for number, module in enumerate(modules):
        low, high = f"{number * 30}m", f"{number * 30 + 29}m"
        events.append(
            {
                "at": {"between": [low, high]},
                "type": "module_completed",
                "module": module,
                "properties": {"duration_seconds": {"between": [20, 240]}},
                "probability": 0.8,
            }
        )
        events.append({"at": {"between": [low, high]}, "type": "module_skipped", "module": module, "probability": 0.2})
    document = {
        "seed": 1,
        "learner": {"external_id": "cohort", "roles": list(spec.audience.roles[:1]), "timezone": "UTC"},
        "start": "2026-03-02T09:00:00Z",
        "events": events,
        "until": "3d",
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=200)
