"""Enrolments in the admin: where each learner is, and why this module (the rule and the values it saw)."""

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from playbooks.models import Enrollment, ModuleProgress


class ModuleProgressInline(admin.TabularInline):
    model = ModuleProgress
    extra = 0
    fields = ("module", "status", "seconds", "completion_pct", "started_at", "finished_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("learner", "playbook", "version", "status", "current_module", "progress", "enrolled_at")
    list_filter = ("status", "playbook")
    list_select_related = ("learner", "playbook", "version__playbook", "current_module")
    search_fields = ("learner__external_id", "learner__email", "learner__display_name")
    fields = (
        "learner",
        "playbook",
        "version",
        "migrate_to",
        "status",
        "current_module",
        "why_this_module",
        "progress",
        "journey",
        "enrolled_at",
        "completed_at",
        "ended_at",
        "ended_reason",
    )
    readonly_fields = fields
    inlines = (ModuleProgressInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Enrollment]:
        return super().get_queryset(request).select_related("learner", "version__playbook", "current_module")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # learners are enrolled by matching a playbook's audience

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Progress")
    def progress(self, enrollment: Enrollment) -> str:
        return f"{enrollment.steps_done} of {enrollment.steps_total} steps"

    @admin.display(description="Why this module")
    def why_this_module(self, enrollment: Enrollment) -> str:
        reason = enrollment.current_reason or {}
        if not reason:
            return "-"
        return format_html("<strong>{}</strong><br>{}", reason.get("rule", ""), reason.get("explanation", ""))

    @admin.display(description="Journey so far")
    def journey(self, enrollment: Enrollment) -> str:
        state = enrollment.state or {}
        choices = format_html_join(
            "",
            "<li>{} → {}: {}</li>",
            (
                (
                    step,
                    choice.partition(":")[2],
                    state.get("reasons", {}).get(choice.partition(":")[2], {}).get("explanation", ""),
                )
                for step, choice in state.get("choices", {}).items()
            ),
        )
        fired = format_html_join(
            "",
            "<li>{}: fired {} time(s)</li>",
            (
                (name, memory.get("fired", 0))
                for name, memory in state.get("triggers", {}).items()
                if memory.get("fired")
            ),
        )
        return format_html(
            "<p>Branch choices:</p><ul>{}</ul><p>Triggers:</p><ul>{}</ul><p>Flags: {}</p>"
            "<details><summary>Raw state</summary><pre>{}</pre></details>",
            choices or "none yet",
            fired or "none fired",
            ", ".join(state.get("flags", [])) or "none",
            json.dumps(state, indent=2, sort_keys=True),
        )
