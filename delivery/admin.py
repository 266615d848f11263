"""The outbox, webhook endpoints and the site's delivery policy in the admin."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from common.admin import LargeTablePaginator
from delivery.destinations import DestinationRefused, destination_check
from delivery.models import ChannelCap, DeliveryPolicy, Message, MessageStatus, WebhookEndpoint
from delivery.services import messages_send_again
from delivery.services.endpoints import webhook_endpoint_save


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Everything sent or to be sent: attempts, the last error and the next attempt, and "send again"."""

    list_display = (
        "created_at",
        "kind",
        "learner",
        "channel_chain",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_by",
        "last_error",
    )
    list_filter = ("status", "kind", "delivered_by")
    list_select_related = ("learner",)
    search_fields = ("=key", "=learner__external_id")
    search_help_text = "A message's exact key (its Message-ID or webhook-id), or a learner's exact external id."
    ordering = ("-created_at",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    actions = ("send_again",)
    fields = (
        "key",
        "kind",
        "status",
        "learner",
        "enrollment",
        "about_module",
        "channels",
        "position",
        "endpoint",
        "due_at",
        "next_attempt_at",
        "attempts",
        "claims",
        "lease_expires_at",
        "last_error",
        "attempt_history",
        "delivered_by",
        "sent_at",
        "seen_at",
        "cancel_reason",
        "payload",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        # Read-only: the change permission is there for "send again", not for editing a message.
        buttons = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **buttons})

    @admin.display(description="Channels")
    def channel_chain(self, message: Message) -> str:
        return " → ".join(message.channels)

    @admin.display(description="Attempts so far")
    def attempt_history(self, message: Message) -> str:
        rows = format_html_join(
            "",
            "<li>{} · {} · {}{}</li>",
            (
                (entry.get("at", ""), entry.get("channel", ""), entry.get("outcome", ""), f": {entry['error']}")
                if entry.get("error")
                else (entry.get("at", ""), entry.get("channel", ""), entry.get("outcome", ""), "")
                for entry in message.history
            ),
        )
        return format_html("<ol>{}</ol>", rows) if message.history else "-"

    @admin.action(description="Send again (same key, from the first channel)", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = messages_send_again(messages=list(queryset), by=request.user.get_username())
        skipped = queryset.count() - count
        note = f" {skipped} still scheduled or being sent were left alone." if skipped else ""
        self.message_user(request, f"{count} message(s) will be sent again shortly.{note}", messages.SUCCESS)


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="https://… (plain http only for allowed networks)."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("name", "kind", "url", "for_reminders", "is_active", "description", "secret")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            destination_check(url)
        except DestinationRefused as exc:
            raise ValidationError(str(exc), code="destination_refused") from None
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("name", "kind", "url", "for_reminders", "is_active", "dead_letters")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "url")

    @admin.display(description="Dead-lettered")
    def dead_letters(self, endpoint: WebhookEndpoint) -> int:
        return Message.objects.filter(endpoint=endpoint.name, status=MessageStatus.DEAD).count()

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        try:
            webhook_endpoint_save(endpoint=obj)
        except ValidationError as exc:  # the destination changed between the form's check and now
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)


class ChannelCapInline(admin.TabularInline):
    model = ChannelCap
    extra = 0


@admin.register(DeliveryPolicy)
class DeliveryPolicyAdmin(admin.ModelAdmin):
    """One row: the caps and quiet hours every playbook's reminders are held to (a playbook may only tighten)."""

    inlines = (ChannelCapInline,)
    fieldsets = (
        ("Frequency cap, all playbooks together", {"fields": ("max_messages", "per")}),
        ("Quiet hours, in each learner's time zone", {"fields": ("quiet_hours_start", "quiet_hours_end")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not DeliveryPolicy.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
