"""Experiments in the admin: create one from published versions of a playbook, then on its Results page see the
power calculation, each arm's outcomes against the control, a bandit's allocations, and start, stop or promote the
winner."""

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
    experiment_arms,
    experiment_create,
    experiment_promote,
    experiment_start,
    experiment_stop,
    floor_check,
    required_sample,
)
from playbooks.engine.spec import PlaybookInvalid
from playbooks.models import PlaybookVersion

SETTINGS = ("baseline_rate", "minimum_effect", "alpha", "power")
BANDIT = ("allocation", "floor")
ALLOCATIONS_SHOWN = 50


class ExperimentForm(forms.ModelForm):
    variants = forms.ModelMultipleChoiceField(
        queryset=PlaybookVersion.objects.filter(published_at__isnull=False).select_related("playbook"),
        help_text="Versions of the playbook that have been published: each is an arm.",
    )
    with_control = forms.BooleanField(
        required=False, initial=True, help_text="Add a control group on the standard flow (the published version)."
    )

    class Meta:
        model = Experiment
        fields = ("playbook", "name", "hypothesis", *SETTINGS, *BANDIT)

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        try:
            arms = experiment_arms(
                playbook=data["playbook"], variants=data["variants"], with_control=data.get("with_control", False)
            )
            floor_check(floor=data["floor"], arms=len(arms))
            data["required"] = required_sample(**{name: data[name] for name in SETTINGS})
        except ApplicationError as exc:
            raise forms.ValidationError({exc.field if exc.field in self.fields else None: exc.message}) from exc
        return data


class ArmInline(admin.TabularInline):
    model = ExperimentArm
    fields = readonly_fields = ("version", "is_control", "weight")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
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
            "stopped_at", "winner", "promoted", "results",
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
            variants=list(data["variants"]),
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
            path("<int:pk>/act/", view(self.act_view), name="insights_experiment_act"),
        ] + super().get_urls()

    def results_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        experiment = get_object_or_404(Experiment.objects.select_related("playbook"), pk=pk)
        if not self.has_view_permission(request, experiment):
            raise PermissionDenied
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
                experiment_stop(experiment=experiment, winner=winner.version if winner else None)
                self.message_user(request, "Stopped: learners stay on their arm; new ones get the standard flow.")
            elif action == "promote" and winner is not None:
                published = experiment_promote(experiment=experiment, winner=winner.version, user=request.user)
                self.message_user(request, f"{winner} won: {published} is the standard flow.", messages.SUCCESS)
            else:
                self.message_user(request, "Say what to do (and, to promote, which arm).", messages.ERROR)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        except PlaybookInvalid as exc:
            self.message_user(request, f"Not published: {'; '.join(map(str, exc.errors))}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:insights_experiment_results", args=[pk]))
