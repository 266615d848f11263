"""Admin for playbooks and their versions: inline editing of drafts, read-only published versions, import and
export, publishing, a diff between versions, and the history of who changed what."""

import difflib

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from common.errors import ApplicationError
from playbooks import selectors, services
from playbooks.admin.compliance import compliance_csv
from playbooks.admin.forms import (
    SignalForm,
    StepForm,
    StepFormSet,
    TriggerForm,
    VersionChildFormSet,
    VersionForm,
)
from playbooks.admin.map import PlaybookMapLinkMixin, VersionMapMixin
from playbooks.compliance import compliance_for_playbook
from playbooks.engine.document import PLAYBOOK_YAML, dump_yaml, yaml_bytes_problem
from playbooks.engine.spec import PlaybookInvalid
from playbooks.models import Playbook, PlaybookVersion, SignalDefinition, Step, Trigger


class DraftOnlyInline:
    """Inlines of a version are editable only while it is a draft: a published version never changes."""

    def _editable(self, version: PlaybookVersion | None) -> bool:
        return version is None or version.is_editable

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


class StepInline(DraftOnlyInline, admin.TabularInline):
    model = Step
    form = StepForm
    formset = StepFormSet
    extra = 0
    autocomplete_fields = ("module",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Step]:
        return super().get_queryset(request).select_related("module").prefetch_related("options__module")

    @admin.display(description="Branch options")
    def branch(self, step: Step) -> str:
        """A read-only version's options (a draft edits the form field of the same name in this column)."""
        options = selectors.step_branch(step=step)
        rows = ((o.when or "otherwise", o.module or f"go to {o.goto}") for o in options)
        return format_html_join("", "<div>{} → {}</div>", rows) or "-"


class TriggerInline(DraftOnlyInline, admin.StackedInline):
    model = Trigger
    form = TriggerForm
    formset = VersionChildFormSet
    extra = 0


class SignalInline(DraftOnlyInline, admin.StackedInline):
    """Stacked, a signal to a block of four lines: nine columns of a table do not fit a 1,280 px window."""

    model = SignalDefinition
    form = SignalForm
    formset = VersionChildFormSet
    extra = 0
    fields = (("name", "event", "aggregate"), ("property", "window", "within", "position"), "where", "sequence")


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A playbook YAML file, such as one exported from here (at most 1 MB).")
    publish = forms.BooleanField(required=False, help_text="Publish it at once (refused if it has errors).")
    migrate = forms.BooleanField(required=False, help_text="Move learners on older versions at their next step.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        problem = yaml_bytes_problem(upload.size, PLAYBOOK_YAML)  # by its size: a huge upload is never read
        if problem:
            raise forms.ValidationError(problem[0].upper() + problem[1:] + ".", code="too_large")
        return upload


@admin.register(Playbook)
class PlaybookAdmin(PlaybookMapLinkMixin, SimpleHistoryAdmin):
    list_display = ("slug", "name", "published", "draft", "map_link", "updated_at")
    search_fields = ("slug", "name")
    readonly_fields = ("versions_table", "compliance_link", "created_at", "updated_at")
    actions = ("start_draft",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Playbook]:
        return super().get_queryset(request).prefetch_related("versions")

    @admin.display(description="Published")
    def published(self, playbook: Playbook) -> str:
        return next((f"v{v.number}" for v in playbook.versions.all() if v.status == "published"), "-")

    @admin.display(description="Draft")
    def draft(self, playbook: Playbook) -> str:
        return next((f"v{v.number}" for v in playbook.versions.all() if v.status == "draft"), "-")

    @admin.display(description="Versions")
    def versions_table(self, playbook: Playbook) -> str:
        rows = format_html_join(
            "",
            "<li><a href='{}'>v{} ({})</a></li>",
            (
                (reverse("admin:playbooks_playbookversion_change", args=[v.pk]), v.number, v.get_status_display())
                for v in playbook.versions.all()
            ),
        )
        return format_html("<ul>{}</ul>", rows) if rows else "-"

    @admin.action(description="Start a new draft from the published version", permissions=["change"])
    def start_draft(self, request: HttpRequest, queryset: QuerySet[Playbook]) -> None:
        for playbook in queryset:
            draft = services.draft_create(playbook=playbook)
            self.message_user(request, format_html("{} is ready to edit.", _version_link(draft)), messages.SUCCESS)

    @admin.display(description="Compliance")
    def compliance_link(self, playbook: Playbook) -> str:
        if not playbook.pk:
            return "-"  # the add page: nothing to report yet
        url = reverse("admin:playbooks_playbook_compliance", args=[playbook.pk])
        return format_html("<a href='{}'>Who has done which required step</a>", url)

    def get_urls(self):
        view = self.admin_site.admin_view
        urls = [
            path("import/", view(self.import_view), name="playbooks_playbook_import"),
            path("<int:pk>/compliance/", view(self.compliance_view), name="playbooks_playbook_compliance"),
        ]
        return urls + super().get_urls()

    def compliance_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        playbook = get_object_or_404(Playbook, pk=pk)
        # Learners' progress is behind the enrolment permission, not only the playbook's.
        if not (self.has_view_permission(request, playbook) and request.user.has_perm("playbooks.view_enrollment")):
            raise PermissionDenied
        report = compliance_for_playbook(playbook=playbook)
        if request.GET.get("format") == "csv":
            return compliance_csv(report)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "report": report,
            "title": f"Required steps of {playbook.name}",
        }
        return TemplateResponse(request, "admin/playbooks/compliance.html", context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            text = form.cleaned_data["file"].read().decode("utf-8", errors="replace")
            try:
                result = services.playbook_import(
                    text=text,
                    publish=form.cleaned_data["publish"],
                    migrate=form.cleaned_data["migrate"],
                    user=request.user,
                )
            except PlaybookInvalid as exc:
                errors = exc.errors
            else:
                self.message_user(request, _import_message(result.version, result.changed), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:playbooks_playbookversion_change", args=[result.version.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "errors": errors,
            "opts": self.model._meta,
            "title": "Import a playbook file",
        }
        return TemplateResponse(request, "admin/playbooks/import.html", context)


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(VersionMapMixin, SimpleHistoryAdmin):
    form = VersionForm
    list_display = ("__str__", "playbook", "number", "status", "published_at", "published_by")
    list_filter = ("status", "playbook")
    list_select_related = ("playbook", "published_by")
    search_fields = ("playbook__slug", "playbook__name")
    autocomplete_fields = ("audience_roles",)
    readonly_fields = (
        "playbook",
        "number",
        "status",
        "published_at",
        "published_by",
        "problems",
        "tools",
        "included_blocks",
    )
    fieldsets = (
        (None, {"fields": ("playbook", "number", "status", "published_at", "published_by", "problems", "tools")}),
        ("Reusable blocks", {"fields": ("included_blocks",)}),
        ("Audience", {"fields": ("audience_roles", "audience_when", "on_audience_exit")}),
        ("Order among a learner's playbooks", {"fields": ("priority",)}),
        (
            "Delivery policy",
            {"fields": ("frequency_cap_max", "frequency_cap_per", "quiet_hours_start", "quiet_hours_end")},
        ),
        ("Saved journeys", {"fields": ("tests",)}),
    )
    inlines = (SignalInline, StepInline, TriggerInline)
    actions = ("publish", "publish_and_migrate", "export_yaml")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from an import or "start a new draft"

    def has_change_permission(self, request: HttpRequest, obj: PlaybookVersion | None = None) -> bool:
        if obj is not None and not obj.is_editable:
            return False  # published and archived versions are shown read-only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PlaybookVersion | None = None) -> bool:
        return (obj is None or obj.is_editable) and super().has_delete_permission(request, obj)

    @admin.display(description="Included")
    def included_blocks(self, version: PlaybookVersion) -> str:
        if not version.pk:
            return "-"
        includes = version.includes.select_related("block_version__block")
        items = format_html_join(
            "",
            "<li><a href='{}'>{} v{}</a></li>",
            (
                (
                    reverse("admin:playbooks_block_change", args=[include.block_version.block_id]),
                    include.block_version.block.slug,
                    include.block_version.number,
                )
                for include in includes
            ),
        )
        if not items:
            return "No reusable blocks: add them under 'include' in the playbook file."
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="Problems to fix before publishing")
    def problems(self, version: PlaybookVersion) -> str:
        if not version.pk or not version.is_editable:
            return "-"
        if getattr(version, "has_form_errors", False):
            # What was posted is not saved: the saved draft's problems would not be the ones on the screen.
            return "Checked again once the errors below are corrected and the draft is saved."
        errors = services.version_errors(version=version)
        if not errors:
            return "No problems: this draft can be published."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><code>{}</code>: {}{}</li>",
                ((e.path, e.message, format_html("<pre>{}</pre>", e.pointer) if e.pointer else "") for e in errors),
            ),
        )

    @admin.display(description="Compare and export")
    def tools(self, version: PlaybookVersion) -> str:
        if not version.pk:
            return "-"
        links = [
            format_html(
                "<a href='{}'>Export YAML</a>", reverse("admin:playbooks_playbookversion_export", args=[version.pk])
            )
        ]
        for other in version.playbook.versions.exclude(pk=version.pk).order_by("-number")[:5]:
            url = reverse("admin:playbooks_playbookversion_diff", args=[other.pk, version.pk])
            links.append(format_html("<a href='{}'>Diff against v{}</a>", url, other.number))
        return format_html_join(" · ", "{}", ((link,) for link in links))

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is not Step:
            return
        for step_form in formset.forms:
            data = getattr(step_form, "cleaned_data", None) or {}
            if data and not data.get("DELETE") and step_form.instance.pk and "branch" in step_form.changed_data:
                services.step_branch_set(step=step_form.instance, options=data.get("options", ()))

    def render_change_form(self, request: HttpRequest, context: dict, *args, **kwargs) -> HttpResponse:
        if context.get("errors"):
            context["adminform"].form.instance.has_form_errors = True  # read by problems(), for this response only
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/map/", view(self.map_view), name="playbooks_playbookversion_map"),
            path("<int:pk>/export/", view(self.export_view), name="playbooks_playbookversion_export"),
            path("<int:old>/diff/<int:new>/", view(self.diff_view), name="playbooks_playbookversion_diff"),
        ] + super().get_urls()

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(PlaybookVersion.objects.select_related("playbook"), pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        response = HttpResponse(dump_yaml(selectors.version_spec(version=version)), content_type="application/yaml")
        response["Content-Disposition"] = f'attachment; filename="{version.playbook.slug}-v{version.number}.yaml"'
        return response

    def diff_view(self, request: HttpRequest, old: int, new: int) -> HttpResponse:
        versions = PlaybookVersion.objects.select_related("playbook")
        before, after = get_object_or_404(versions, pk=old), get_object_or_404(versions, pk=new)
        if not (self.has_view_permission(request, before) and self.has_view_permission(request, after)):
            raise PermissionDenied
        lines = list(
            difflib.unified_diff(
                dump_yaml(selectors.version_spec(version=before)).splitlines(),
                dump_yaml(selectors.version_spec(version=after)).splitlines(),
                fromfile=str(before),
                tofile=str(after),
                lineterm="",
            )
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "before": before,
            "after": after,
            "lines": lines,
            "title": f"Changes from v{before.number} to v{after.number}",
        }
        return TemplateResponse(request, "admin/playbooks/diff.html", context)

    @admin.action(description="Publish selected drafts", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[PlaybookVersion], migrate: bool = False) -> None:
        for version in queryset:
            try:
                published = services.playbook_publish(version=version, user=request.user, migrate=migrate)
            except PlaybookInvalid as exc:
                problems = "; ".join(map(str, exc.errors))
                self.message_user(request, f"{version} was not published: {problems}", messages.ERROR)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                moved = " Learners on older versions move to it at their next step." if migrate else ""
                self.message_user(
                    request, format_html("{} is published.{}", _version_link(published), moved), messages.SUCCESS
                )

    @admin.action(description="Publish selected drafts and migrate learners at their next step", permissions=["change"])
    def publish_and_migrate(self, request: HttpRequest, queryset: QuerySet[PlaybookVersion]) -> None:
        self.publish(request, queryset, migrate=True)

    @admin.action(description="Export the selected version as YAML")
    def export_yaml(self, request: HttpRequest, queryset: QuerySet[PlaybookVersion]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to export.", messages.WARNING)
            return None
        return self.export_view(request, queryset.get().pk)


def _version_link(version: PlaybookVersion) -> str:
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:playbooks_playbookversion_change", args=[version.pk]), version
    )


def _import_message(version: PlaybookVersion, changed: bool) -> str:
    if not changed:
        return format_html("Nothing changed: the file is {}.", _version_link(version))
    counts = (
        (version.steps.count(), "step", "steps"),
        (version.triggers.count(), "trigger", "triggers"),
        (version.signals.count(), "signal", "signals"),
    )
    summary = ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts)
    return format_html("Imported {}: {}.", _version_link(version), summary)
