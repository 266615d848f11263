"""The admin of identity sources: the source with its mappings and role rules (conditions checked as typed, with
the caret), Sync now / Dry run / Confirm actions, a file upload page, the role preview; runs and links read-only."""

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from common.admin import ReadOnlyAdminMixin
from common.errors import ApplicationError
from identity import selectors
from identity.mapping import role_rule_problem, target_problem
from identity.models import AttributeMapping, IdentitySource, RoleRule, SourceLink, SyncRun, SyncRunStatus
from identity.scim.tokens import scim_token_issue
from identity.services import sources as source_services
from identity.services import sync as sync_services
from identity.sources.files import FORMATS, files_dir

MAX_UPLOAD_BYTES = 100_000_000
_UPLOAD_NAME = re.compile(r"^[\w.-]+\.(csv|json|yaml|yml)$")


def condition_error(when: str) -> ValidationError | None:
    error = role_rule_problem(when)
    if error is None:
        return None
    return ValidationError(format_html("{}<pre>{}</pre>", error.message, error.pointer()), code="condition")


class AttributeMappingForm(forms.ModelForm):
    class Meta:
        model = AttributeMapping
        fields = ("position", "source_attribute", "target", "transform")

    def clean_target(self) -> str:
        target = self.cleaned_data["target"]
        if problem := target_problem(target):
            raise ValidationError(problem)
        return target


class RoleRuleForm(forms.ModelForm):
    class Meta:
        model = RoleRule
        fields = ("position", "when", "role")
        widgets = {"when": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def clean_when(self) -> str:
        when = self.cleaned_data["when"]
        if error := condition_error(when):
            raise error
        return when


class AttributeMappingInline(admin.TabularInline):
    model = AttributeMapping
    form = AttributeMappingForm
    extra = 0


class RoleRuleInline(admin.TabularInline):
    """Ordered; every rule that matches gives its role. Conditions read ``attributes`` (mapped) and ``groups``."""

    model = RoleRule
    form = RoleRuleForm
    extra = 0
    autocomplete_fields = ("role",)


class IdentitySourceForm(forms.ModelForm):
    class Meta:
        model = IdentitySource
        fields = (
            "name",
            "kind",
            "enabled",
            "settings",
            "secret_env",
            "external_id_from",
            "grace_period",
            "deactivation_brake",
            "schedule",
            "api_key",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        candidate = IdentitySource(**{name: cleaned.get(name) for name in self.Meta.fields if name in cleaned})
        candidate.api_key_id = cleaned["api_key"].pk if cleaned.get("api_key") else None
        for name, problem in source_services.source_problems(candidate).items():
            if name in self.fields:
                self.add_error(name, problem)
        return cleaned


@admin.register(IdentitySource)
class IdentitySourceAdmin(admin.ModelAdmin):
    form = IdentitySourceForm
    list_display = ("name", "kind", "enabled", "schedule", "last_run_status", "last_run_at", "tools")
    list_filter = ("kind", "enabled")
    search_fields = ("name",)
    inlines = (AttributeMappingInline, RoleRuleInline)
    readonly_fields = ("tools", "created_at", "updated_at")
    autocomplete_fields = ("api_key",)
    actions = ("sync_now", "dry_run", "confirm_held", "issue_scim_token")

    def get_queryset(self, request: HttpRequest) -> QuerySet[IdentitySource]:
        last = SyncRun.objects.filter(source=OuterRef("pk")).order_by("-started_at", "-pk")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_status=Subquery(last.values("status")[:1]), last_started=Subquery(last.values("started_at")[:1])
            )
        )

    @admin.display(description="Last run")
    def last_run_status(self, source: IdentitySource) -> str:
        return getattr(source, "last_status", None) or "-"

    @admin.display(description="Started")
    def last_run_at(self, source: IdentitySource) -> datetime | None:
        return getattr(source, "last_started", None)

    @admin.display(description="Tools")
    def tools(self, source: IdentitySource) -> str:
        if not source.pk:
            return "-"
        links = [
            (reverse("admin:identity_syncrun_changelist") + f"?source__id__exact={source.pk}", "runs"),
            (reverse("admin:identity_sourcelink_changelist") + f"?source__id__exact={source.pk}", "people"),
            (reverse("admin:identity_identitysource_preview", args=[source.pk]), "role preview"),
        ]
        if source.kind == "file":
            links.append((reverse("admin:identity_identitysource_upload", args=[source.pk]), "upload a file"))
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    def save_model(self, request: HttpRequest, obj: IdentitySource, form, change: bool) -> None:
        source_services.source_save(source=obj)

    def delete_model(self, request: HttpRequest, obj: IdentitySource) -> None:
        source_services.source_delete(source=obj)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        rows = formset.save(commit=False)
        source = form.instance
        source_services.source_rows_save(
            source=source,
            mappings=[row for row in rows if isinstance(row, AttributeMapping)],
            rules=[row for row in rows if isinstance(row, RoleRule)],
            deleted=formset.deleted_objects,
        )

    # Actions

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[IdentitySource]) -> None:
        self._start(request, queryset, dry_run=False)

    @admin.action(description="Dry run (writes nothing; the report is in Sync runs)", permissions=["change"])
    def dry_run(self, request: HttpRequest, queryset: QuerySet[IdentitySource]) -> None:
        self._start(request, queryset, dry_run=True)

    def _start(self, request: HttpRequest, queryset: QuerySet[IdentitySource], *, dry_run: bool) -> None:
        started = []
        for source in queryset:
            if not source.enabled:
                self.message_user(request, f"{source}: disabled; enable it first.", messages.WARNING)
                continue
            try:
                sync_services.sync_start(source=source, dry_run=dry_run)
            except ApplicationError as exc:
                self.message_user(request, f"{source}: {exc.message}", messages.ERROR)
                continue
            started.append(source.name)
        if started:
            what = "Dry runs" if dry_run else "Syncs"
            self.message_user(
                request, f"{what} started for {', '.join(started)}; see Sync runs for the results.", messages.SUCCESS
            )

    @admin.action(description="Confirm and apply the held run", permissions=["change"])
    def confirm_held(self, request: HttpRequest, queryset: QuerySet[IdentitySource]) -> None:
        for source in queryset:
            run = source.runs.filter(dry_run=False).order_by("-started_at", "-pk").first()
            if run is None or run.status != SyncRunStatus.HELD:
                self.message_user(request, f"{source}: its last run is not held.", messages.WARNING)
                continue
            try:
                sync_services.sync_run_confirm(run=run, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{source}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{source}: confirmed; a run applying it has started.", messages.SUCCESS)

    @admin.action(description="Issue a SCIM token (replaces the current one; shown once)", permissions=["change"])
    def issue_scim_token(self, request: HttpRequest, queryset: QuerySet[IdentitySource]) -> None:
        for source in queryset:
            try:
                token = scim_token_issue(source=source)
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
                continue
            self.message_user(
                request,
                f"{source}: the SCIM bearer token is {token} — copy it into the identity provider now: it is not "
                "stored and will not be shown again. The previous token no longer works.",
                messages.WARNING,
            )

    # Pages

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/upload/", view(self.upload_view), name="identity_identitysource_upload"),
            path("<int:pk>/preview/", view(self.preview_view), name="identity_identitysource_preview"),
            *super().get_urls(),
        ]

    def upload_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Upload a file for a file source: a dry run first (the diff is shown), then apply that same file."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        source = get_object_or_404(IdentitySource, pk=pk, kind="file")
        form = UploadForm(request.POST or None, request.FILES or None)
        run = None
        if request.method == "POST" and form.is_valid():
            stored = form.cleaned_data.get("uploaded") or _store_upload(source, form.cleaned_data["file"])
            apply = "apply" in request.POST
            try:
                run = sync_services.source_sync_file(
                    source=source,
                    path=_uploads_dir() / stored,
                    dry_run=not apply,
                    confirm=apply and form.cleaned_data["confirm"],
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            form = UploadForm(initial={"uploaded": stored})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "source": source,
            "form": form,
            "run": run,
            "uploaded": form.initial.get("uploaded"),
            "title": f"Upload people for {source.name}",
        }
        return TemplateResponse(request, "admin/identity/source_upload.html", context)

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Who among the source's people (as last mapped) would get which roles, with the saved rules or with rules
        typed here (``role_slug: condition``, one per line), before saving them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        source = get_object_or_404(IdentitySource, pk=pk)
        saved = "\n".join(
            f"{slug}: {when}"
            for when, slug in source.role_rules.order_by("position", "pk").values_list("when", "role__slug")
        )
        text = request.POST.get("rules", saved) if request.method == "POST" else saved
        rules, errors = _parse_rules(text)
        rows = selectors.role_preview(source=source, rules=None if errors else rules)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "source": source,
            "rules_text": text,
            "errors": errors,
            "rows": rows,
            "changed": sum(1 for row in rows if row["now"] != row["would"]),
            "title": f"Role preview for {source.name}",
        }
        return TemplateResponse(request, "admin/identity/source_preview.html", context)


def _parse_rules(text: str) -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
    rules, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        slug, colon, when = line.partition(":")
        if not colon:
            errors.append({"line": number, "message": "write role_slug: condition", "pointer": ""})
            continue
        error = role_rule_problem(when.strip())
        if error is not None:
            errors.append({"line": number, "message": error.message, "pointer": error.pointer()})
            continue
        rules.append((when.strip(), slug.strip()))
    return rules, errors


class UploadForm(forms.Form):
    file = forms.FileField(
        required=False, help_text=f"CSV, JSON or YAML ({', '.join(FORMATS)}): the complete list of people."
    )
    confirm = forms.BooleanField(
        required=False, help_text="Apply deactivations even beyond the source's brake (after checking the dry run)."
    )
    uploaded = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_file(self) -> Any:
        upload = self.cleaned_data.get("file")
        if upload is None:
            return None
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(f"At most {MAX_UPLOAD_BYTES // 1_000_000} MB; larger files go in the source's path.")
        if Path(upload.name).suffix.lower().lstrip(".") not in (*FORMATS, "yml"):
            raise ValidationError("A .csv, .json, .yaml or .yml file.")
        return upload

    def clean_uploaded(self) -> str:
        name = self.cleaned_data.get("uploaded") or ""
        if name and (not _UPLOAD_NAME.match(name) or not (_uploads_dir() / name).is_file()):
            raise ValidationError("That upload is gone; upload the file again.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("file") and not cleaned.get("uploaded") and not self.errors:
            raise ValidationError("Choose a file.")
        return cleaned


def _uploads_dir() -> Path:
    directory = files_dir() / "uploads"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _store_upload(source: IdentitySource, upload: Any) -> str:
    suffix = Path(upload.name).suffix.lower()
    name = f"{source.name}-{timezone.now():%Y%m%d-%H%M%S-%f}{suffix}"
    with (_uploads_dir() / name).open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    return name


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: what each run found and changed."""

    list_display = ("source", "started_at", "status", "dry_run", "duration", "summary", "confirmed_by")
    list_filter = ("status", "dry_run", "source")
    list_select_related = ("source", "confirmed_by")
    date_hierarchy = "started_at"
    show_full_result_count = False
    fields = (
        "source",
        "status",
        "dry_run",
        "started_at",
        "finished_at",
        "duration",
        "held_reason",
        "confirmed_by",
        "confirmed_at",
        "counts_table",
        "errors_list",
        "checks_list",
        "diff_table",
    )
    readonly_fields = fields
    actions = ("confirm",)

    @admin.display(description="Duration")
    def duration(self, run: SyncRun) -> str:
        if run.finished_at is None:
            return "running"
        return f"{(run.finished_at - run.started_at).total_seconds():.1f} s"

    @admin.display(description="Summary")
    def summary(self, run: SyncRun) -> str:
        return ", ".join(f"{name} {count:,}" for name, count in (run.counts or {}).items() if count) or "-"

    @admin.display(description="Counts")
    def counts_table(self, run: SyncRun) -> str:
        return format_html_join("", "<div>{}: <b>{}</b></div>", ((n, f"{c:,}") for n, c in (run.counts or {}).items()))

    @admin.display(description="Errors")
    def errors_list(self, run: SyncRun) -> str:
        rows = ((e.get("entry") or "-", e.get("field") or "", e.get("message")) for e in run.errors or [])
        return format_html_join("", "<div><code>{}</code> <i>{}</i> {}</div>", rows) or "-"

    @admin.display(description="Checks")
    def checks_list(self, run: SyncRun) -> str:
        rows = ((c.get("message"), ", ".join(map(str, c.get("examples") or []))) for c in run.checks or [])
        return format_html_join("", "<div>{}<br><small>{}</small></div>", rows) or "-"

    @admin.display(description="Changes (the first 1,000)")
    def diff_table(self, run: SyncRun) -> str:
        rows = (
            (change.get("change"), change.get("learner") or "", change.get("entry") or "", _changes(change))
            for change in run.diff or []
        )
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html("<table><tr><th>change</th><th>learner</th><th>entry</th><th>what</th></tr>{}</table>", body)

    @admin.action(description="Confirm and apply (held runs)", permissions=["view"])
    def confirm(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        if not request.user.has_perm("identity.change_identitysource"):
            raise PermissionDenied
        for run in queryset.select_related("source"):
            try:
                sync_services.sync_run_confirm(run=run, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{run}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{run}: confirmed; a run applying it has started.", messages.SUCCESS)


def _changes(change: dict[str, Any]) -> str:
    parts = []
    for name, value in (change.get("changes") or {}).items():
        if name == "roles":
            parts += [f"+{slug}" for slug in value.get("added") or []] + [
                f"-{slug}" for slug in value.get("removed") or []
            ]
        else:
            parts.append(f"{name}: {json.dumps(value[0])} → {json.dumps(value[1])}")
    return "; ".join(parts)


@admin.register(SourceLink)
class SourceLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: who each source knows, as whom; missing and withdrawn people."""

    list_display = ("learner", "source", "remote_id", "last_seen_at", "missing_since", "deactivated_at")
    list_filter = (
        "source",
        ("missing_since", admin.EmptyFieldListFilter),
        ("deactivated_at", admin.EmptyFieldListFilter),
    )
    list_select_related = ("learner", "source")
    search_fields = ("=remote_id", "=learner__external_id", "=learner__email")
    show_full_result_count = False
    fields = (
        "learner",
        "source",
        "remote_id",
        "entry_hash",
        "last_seen_at",
        "missing_since",
        "deactivated_at",
        "mapped",
    )
    readonly_fields = fields
