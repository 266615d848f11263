from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from common.admin import LargeTablePaginator
from signals_app.event_vocabulary import STANDARD_EVENT_TYPES
from signals_app.models import Decision, Event, Flag, Quarantine, Reminder
from signals_app.services import flag_acknowledge
from signals_app.services.isolation import quarantines_release

DECISION_KINDS = (
    "branch",
    "trigger",
    "suppressed",
    "deferred",
    "cancelled",
    "action",
    "wait",
    "next_module",
    "completed",
)


class ChoicesFilter(admin.SimpleListFilter):
    """A filter over fixed choices: no SELECT DISTINCT over a huge table to build the list."""

    options: tuple[str, ...] = ()

    def lookups(self, request, model_admin):
        return [(option, option) for option in self.options]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class EventTypeFilter(ChoicesFilter):
    title, parameter_name, options = "type", "type", STANDARD_EVENT_TYPES


class DecisionKindFilter(ChoicesFilter):
    title, parameter_name, options = "kind", "kind", DECISION_KINDS


class ProcessedFilter(admin.SimpleListFilter):
    title, parameter_name = "evaluated", "evaluated"

    def lookups(self, request, model_admin):
        return [("no", "Waiting for evaluation"), ("yes", "Evaluated")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(processed_at__isnull=self.value() == "no")
        return queryset


class ConflictFilter(admin.SimpleListFilter):
    title, parameter_name = "conflicting retries", "conflicts"

    def lookups(self, request, model_admin):
        return [("yes", "Retried with a different body")]

    def queryset(self, request, queryset):
        # Served by a partial index, however large the table.
        return queryset.filter(conflicting_retries__gt=0) if self.value() == "yes" else queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """Events and decisions are facts: looked at, never edited in the admin."""

    paginator = LargeTablePaginator
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "learner",
        "type",
        "module",
        "source",
        "client_id",
        "processed_at",
        "conflicting_retries",
    )
    list_filter = (EventTypeFilter, ProcessedFilter, ConflictFilter)
    list_select_related = ("learner",)
    # Exact matches only: each is an index look-up, where a LIKE over millions of rows would not be.
    search_fields = ("=learner__external_id", "=client_id")
    search_help_text = "A learner's exact external id, or an event's exact client id."
    ordering = ("-occurred_at",)
    raw_id_fields = ("learner",)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("decided_at", "learner", "kind", "rule", "module", "explanation")
    list_filter = (DecisionKindFilter,)
    list_select_related = ("learner",)
    search_fields = ("=learner__external_id",)
    search_help_text = "A learner's exact external id."
    ordering = ("-decided_at",)
    raw_id_fields = ("learner", "enrollment", "event")


class OpenFilter(admin.SimpleListFilter):
    title, parameter_name = "status", "status"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("acknowledged", "Acknowledged")]

    def queryset(self, request, queryset):
        if self.value() in ("open", "acknowledged"):
            return queryset.filter(acknowledged_at__isnull=self.value() == "open")
        return queryset


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ("raised_at", "name", "learner", "reason", "acknowledged_at", "acknowledged_by")
    list_filter = (OpenFilter, "name")
    list_select_related = ("learner", "decision", "acknowledged_by")
    search_fields = ("=learner__external_id", "learner__display_name")
    readonly_fields = ("learner", "enrollment", "decision", "name", "raised_at", "acknowledged_at", "acknowledged_by")
    actions = ("acknowledge",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Why")
    def reason(self, flag: Flag) -> str:
        return flag.decision.explanation

    @admin.action(description="Acknowledge selected flags", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Flag]) -> None:
        for flag in queryset:
            flag_acknowledge(flag=flag, user=request.user)
        self.message_user(request, f"{queryset.count()} flag(s) acknowledged.", messages.SUCCESS)


@admin.register(Quarantine)
class QuarantineAdmin(admin.ModelAdmin):
    """Learners whose evaluation failed alone, with the error; "retry" once what failed is fixed."""

    list_display = ("learner", "created_at", "waiting_events", "error")
    list_select_related = ("learner",)
    search_fields = ("=learner__external_id",)
    readonly_fields = ("learner", "error", "created_at")
    actions = ("retry",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Events waiting")
    def waiting_events(self, quarantine: Quarantine) -> int:
        return Event.objects.filter(learner_id=quarantine.learner_id, processed_at__isnull=True).count()

    @admin.action(description="Retry: evaluate their waiting events again", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Quarantine]) -> None:
        released = quarantines_release(quarantines=list(queryset))
        self.message_user(
            request, f"{len(released.learners)} learner(s) will be evaluated again shortly.", messages.SUCCESS
        )


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    """Reminders as planned under the delivery policy, and what became of their messages: read-only."""

    list_display = ("learner", "channel", "template", "module", "due_at", "status", "delivery", "note")
    list_filter = ("status", "channel")
    list_select_related = ("learner", "message")
    search_fields = ("=learner__external_id",)
    raw_id_fields = ("learner", "enrollment", "decision", "message")
    show_full_result_count = False
    paginator = LargeTablePaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Delivery")
    def delivery(self, reminder: Reminder) -> str:
        if reminder.message is None:
            return "-"
        url = reverse("admin:delivery_message_change", args=[reminder.message.pk])
        return format_html("<a href='{}'>{}</a>", url, reminder.message.get_status_display())


from signals_app import admin_simulation  # noqa: E402, F401 - the Simulate pages extend the playbook version admin
