"""Experiments in the admin: create one from published versions of a playbook (each version an arm, or a version
with parameter values an arm of its own), then on its Results page see the power calculation, each arm's outcomes
against the control, a bandit's allocations, and start, stop or promote the winner."""

import csv
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from common.errors import ApplicationError
from insights.experiment_results import experiment_results
from insights.models import Experiment, ExperimentArm
from insights.services.experiments import (
    Variant,
    experiment_arms,
    experiment_create,
    experiment_promote,
    experiment_start,
    experiment_stop,
    floor_check,
    required_sample,
    variant_errors,
)
from playbooks.engine.document import load_yaml
from playbooks.engine.parameters import values_text
from playbooks.engine.spec import PlaybookInvalid
from playbooks.models import PlaybookVersion

SETTINGS = ("baseline_rate", "minimum_effect", "alpha", "power")
BANDIT = ("allocation", "floor")
ALLOCATIONS_SHOWN = 50


def _published_versions():
    return PlaybookVersion.objects.filter(published_at__isnull=False).select_related("playbook")


class ArmRowForm(forms.Form):
    """One arm that sets parameter values: a published version and values of the parameters it declares."""

    version = forms.ModelChoiceField(queryset=_published_versions(), required=False)
    parameters = forms.CharField(
        required=False,
        max_length=2_000,
        widget=forms.TextInput(attrs={"size": 50, "spellcheck": "false"}),
        help_text="In YAML, e.g. {fast_threshold: 5, offer_fast_track: false}.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The rows sit in a table under one heading per column: each input says which arm it is for.
        number = self.prefix.rsplit("-", 1)[-1] if self.prefix else ""
        arm = f"Arm {int(number) + 1}" if number.isdigit() else "Arm"
        self.fields["version"].widget.attrs["aria-label"] = f"{arm}: version"
        self.fields["parameters"].widget.attrs["aria-label"] = f"{arm}: parameter values"

    def clean_parameters(self) -> Any:
        text = self.cleaned_data["parameters"].strip()
        if not text:
            return {}
        try:
            return load_yaml(text)
        except PlaybookInvalid as exc:
            raise forms.ValidationError(f"Not YAML: {exc.errors[0]}") from exc

    def clean(self) -> dict:
        data = super().clean()
        version, values = data.get("version"), data.get("parameters")
        if version is None and values:
            self.add_error("version", "Say which version these values are for.")
        elif version is not None and "parameters" in data:
            if not values:
                self.add_error(
                    "parameters", "Set at least one parameter value (a version as published is chosen under Variants)."
                )
            for error in variant_errors(version=version, parameters=values):
                self.add_error("parameters", str(error))
        return data

    @property
    def variant(self) -> Variant | None:
        data = self.cleaned_data if self.is_valid() else {}
        return Variant(data["version"], data["parameters"]) if data.get("version") else None


ArmRowFormSet = forms.formset_factory(ArmRowForm, extra=3, max_num=20, validate_max=True)


class ExperimentForm(forms.ModelForm):
    variants = forms.ModelMultipleChoiceField(
        queryset=_published_versions(),
        required=False,
        help_text="Versions of the playbook that have been published: each is an arm. Arms setting parameter "
        "values are listed below.",
    )
    with_control = forms.BooleanField(
        required=False, initial=True, help_text="Add a control group on the standard flow (the published version)."
    )

    class Meta:
        model = Experiment
        fields = ("playbook", "name", "hypothesis", *SETTINGS, *BANDIT)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A post without the rows' table (no management form) sets no parameter arms.
        rows = self.is_bound and "arms-TOTAL_FORMS" in self.data
        self.arm_rows = ArmRowFormSet(self.data if rows else None, prefix="arms")

    def clean(self) -> dict:
        data = super().clean()
        if self.arm_rows.is_bound and not self.arm_rows.is_valid():
            raise forms.ValidationError("Fix the arms with parameter values below.")
        if self.errors:
            return data
        rows = [row for row in self.arm_rows if row.variant is not None]
        for row in rows:
            if row.variant.version.playbook_id != data["playbook"].pk:
                row.add_error("version", f"Not a version of {data['playbook'].slug}.")
        if any(row.errors for row in rows):
            raise forms.ValidationError("Fix the arms with parameter values below.")
        data["arms"] = [*data["variants"], *(row.variant for row in rows)]
        try:
            arms = experiment_arms(
                playbook=data["playbook"], variants=data["arms"], with_control=data.get("with_control", False)
            )
            floor_check(floor=data["floor"], arms=len(arms))
            data["required"] = required_sample(**{name: data[name] for name in SETTINGS})
        except ApplicationError as exc:
            raise forms.ValidationError({exc.field if exc.field in self.fields else None: exc.message}) from exc
        return data


class ArmInline(admin.TabularInline):
    model = ExperimentArm
    fields = readonly_fields = ("version", "parameter_values", "is_control", "weight")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="parameters")
    def parameter_values(self, arm: ExperimentArm) -> str:
        return values_text(arm.parameters) or "the version's defaults"


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    add_form_template = "admin/insights/experiment_add.html"
    list_display = ("name", "playbook", "status", "started_at", "stopped_at", "results")
    list_filter = ("status",)
    list_select_related = ("playbook",)

    def get_form(self, request: HttpRequest, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ExperimentForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple:
        # Once created, an experiment changes only through its actions: arms and settings are what it measures.
        if obj is None:
            return ()
        return (
            "playbook", "name", "hypothesis", *SETTINGS, *BANDIT, "status", "required_per_arm", "started_at",
            "stopped_at", "winning_arm", "promoted", "results",
        )  # fmt: skip

    def get_fields(self, request: HttpRequest, obj=None) -> tuple:
        return (
            self.get_readonly_fields(request, obj) if obj else (*ExperimentForm.Meta.fields, "variants", "with_control")
        )

    def save_model(self, request: HttpRequest, obj: Experiment, form: ExperimentForm, change: bool) -> None:
        data = form.cleaned_data
        created = experiment_create(
            playbook=data["playbook"],
            name=data["name"],
            hypothesis=data["hypothesis"],
            variants=data["arms"],
            with_control=data.get("with_control", False),
            user=request.user,
            **{name: data[name] for name in (*SETTINGS, *BANDIT)},
        )
        obj.pk = created.pk
        messages.info(
            request,
            f"It needs {data['required']} learners per arm (power calculation); start it from its Results page.",
        )

    def get_inlines(self, request: HttpRequest, obj=None) -> list:
        return [ArmInline] if obj else []  # the service writes the arms from the variants chosen

    @admin.display(description="Results")
    def results(self, experiment: Experiment) -> str:
        if not experiment.pk:
            return "-"
        return format_html(
            "<a href='{}'>Results</a>", reverse("admin:insights_experiment_results", args=[experiment.pk])
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/results/", view(self.results_view), name="insights_experiment_results"),
            path("<int:pk>/results.csv", view(self.results_csv_view), name="insights_experiment_results_csv"),
            path("<int:pk>/act/", view(self.act_view), name="insights_experiment_act"),
        ] + super().get_urls()

    def _viewed(self, request: HttpRequest, pk: int) -> Experiment:
        experiment = get_object_or_404(
            Experiment.objects.select_related("playbook", "winning_arm__version", "promoted"), pk=pk
        )
        if not self.has_view_permission(request, experiment):
            raise PermissionDenied
        return experiment

    def results_csv_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The Results page's table, one row per arm, for a spreadsheet."""
        experiment = self._viewed(request, pk)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="experiment-{experiment.pk}-results.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(_csv_row(outcome) for outcome in experiment_results(experiment=experiment).arms)
        return response

    def results_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        experiment = self._viewed(request, pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "experiment": experiment,
            "results": experiment_results(experiment=experiment),
            "allocations": list(experiment.allocations.order_by("-pk")[:ALLOCATIONS_SHOWN]),
            "allocations_count": experiment.allocations.count(),
            "can_change": self.has_change_permission(request, experiment),
            "title": f"Results: {experiment.name}",
        }
        return TemplateResponse(request, "admin/insights/experiment_results.html", context)

    def act_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        experiment = get_object_or_404(Experiment, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, experiment):
            raise PermissionDenied
        action = request.POST.get("action")
        winner = experiment.arms.filter(pk=request.POST.get("arm") or 0).select_related("version").first()
        try:
            if action == "start":
                experiment = experiment_start(experiment=experiment)
                self.message_user(request, f"Started: stop once each arm has {experiment.required_per_arm} learners.")
            elif action == "stop":
                experiment_stop(experiment=experiment, winner=winner)
                self.message_user(request, "Stopped: learners stay on their arm; new ones get the standard flow.")
            elif action == "promote" and winner is not None:
                published = experiment_promote(experiment=experiment, winner=winner, user=request.user)
                self.message_user(request, f"{winner} won: {published} is the standard flow.", messages.SUCCESS)
            else:
                self.message_user(request, "Say what to do (and, to promote, which arm).", messages.ERROR)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        except PlaybookInvalid as exc:
            self.message_user(request, f"Not published: {'; '.join(map(str, exc.errors))}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:insights_experiment_results", args=[pk]))


CSV_COLUMNS = (
    "arm", "version", "parameters", "control", "learners", "completed", "completion_rate", "difference", "low",
    "high", "lift", "p_value", "test", "median_hours", "p_value_time", "skip_rate", "p_value_skips",
)  # fmt: skip


def _csv_row(outcome) -> list:
    completion, time, skips = outcome.completion, outcome.time, outcome.skips
    return [
        str(outcome.arm), outcome.arm.version.number, values_text(outcome.arm.parameters), outcome.arm.is_control,
        outcome.learners, outcome.completed, _blank(outcome.completion_rate),
        *(_blank(getattr(completion, name, None)) for name in ("difference", "low", "high", "lift", "p_value", "test")),
        _blank(time.median if time else None), _blank(time.p_value if time else None), _blank(outcome.skip_rate),
        _blank(skips.p_value if skips else None),
    ]  # fmt: skip


def _blank(value: Any) -> Any:
    return "" if value is None else value
