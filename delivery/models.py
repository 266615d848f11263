"""Everything that leaves the platform goes through the outbox (``Message``), to an e-mail address, a Slack hook, a
webhook endpoint, or the learner's own page, under one site-wide delivery policy."""

import re
import secrets
from base64 import b64encode

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from playbooks.engine.durations import DurationError, parse_duration

CHANNELS = ("email", "slack", "webhook", "in_app")
IN_APP = "in_app"


class MessageStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"  # waits for next_attempt_at (its due time, or its next retry)
    SENDING = "sending", "Sending"  # claimed by a worker until lease_expires_at
    SENT = "sent", "Sent"
    DEAD = "dead", "Dead-lettered"  # every channel failed, or retries ran out: waits for "send again"
    CANCELLED = "cancelled", "Cancelled"


class MessageKind(models.TextChoices):
    REMINDER = "reminder", "Reminder"
    WEBHOOK = "webhook", "Webhook"
    NOTICE = "notice", "Notice to a manager"


def new_message_key() -> str:
    return f"msg_{secrets.token_hex(13)}"


class Message(models.Model):
    """One message in the outbox. Claimed by a worker in a short transaction (a lease), sent after that commit, its
    outcome recorded in a transaction of its own, so a failure of one message never re-sends another.

    ``key`` is the message's idempotency key, the same on every attempt: the e-mail's Message-ID, the webhook's
    ``webhook-id`` header. A receiver that sees a key twice can drop the repeat.
    """

    key = models.CharField(max_length=40, unique=True, default=new_message_key, editable=False)
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    learner = models.ForeignKey(
        "identity.Learner", null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    enrollment = models.ForeignKey(
        "playbooks.Enrollment", null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    about_module = models.CharField(
        max_length=100, blank=True, help_text="A reminder is cancelled when the learner completes or skips it."
    )
    channels = models.JSONField(help_text="Tried in order: the next when one cannot reach the learner.")
    position = models.PositiveSmallIntegerField(default=0, help_text="The channel being tried.")
    endpoint = models.CharField(max_length=100, blank=True, help_text="A webhook or Slack endpoint's name.")
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.SCHEDULED)
    due_at = models.DateTimeField(help_text="When it was planned to go out.")
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts on the current channel.")
    claims = models.PositiveIntegerField(default=0, help_text="Times a worker claimed it (its lease token).")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    history = models.JSONField(default=list, blank=True, help_text="Each attempt: when, channel, outcome.")
    delivered_by = models.CharField(max_length=20, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    seen_at = models.DateTimeField(null=True, blank=True, help_text="In-app messages: dismissed by the learner.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The claim reads only what is due or whose worker died; both stay small however big the table gets.
            models.Index(fields=["next_attempt_at"], condition=Q(status="scheduled"), name="message_due"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="sending"), name="message_leased"),
            # Dead letters are few and wanted often (/metrics at each scrape, the admin's filter).
            models.Index(fields=["updated_at"], condition=Q(status="dead"), name="message_dead"),
            models.Index(fields=["learner", "due_at"]),
            # The insights fold finds the reminders whose message changed since its last run by it.
            models.Index(fields=["updated_at"], name="message_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"

    @property
    def channel(self) -> str:
        return self.channels[min(self.position, len(self.channels) - 1)]


class EndpointKind(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (signed JSON, Standard Webhooks)"
    SLACK = "slack", "Slack incoming webhook"


def new_webhook_secret() -> str:
    return "whsec_" + b64encode(secrets.token_bytes(24)).decode()


class WebhookEndpoint(models.Model):
    """Where ``webhook`` actions and the webhook and Slack reminder channels post.

    A destination that resolves to a loopback, link-local or private address is refused, at save and at every send,
    unless ``WEBHOOK_ALLOWED_NETWORKS`` names it: an admin-editable URL must not become a way into the network.
    """

    name = models.SlugField(max_length=100, unique=True, help_text="How playbooks name it: {webhook: NAME}.")
    kind = models.CharField(max_length=10, choices=EndpointKind.choices, default=EndpointKind.WEBHOOK)
    url = models.URLField(max_length=500, help_text="https://… (plain http only for allowed networks).")
    secret = models.CharField(
        max_length=100,
        default=new_webhook_secret,
        help_text="Signs each delivery (webhook-signature header); give it to the receiver to verify them.",
    )
    for_reminders = models.BooleanField(
        default=False, help_text="Reminders on this kind's channel go here when the playbook names no endpoint."
    )
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(for_reminders=True), name="one_reminder_endpoint_per_kind"
            )
        ]

    def __str__(self) -> str:
        return self.name


class DeliveryPolicy(models.Model):
    """The site's delivery policy, above every playbook (one row). A playbook's own policy can only tighten it."""

    max_messages = models.PositiveIntegerField(
        null=True, blank=True, default=3, help_text="At most this many reminders per learner, all playbooks together…"
    )
    per = models.CharField(max_length=20, blank=True, default="24h", help_text="…in this long (e.g. 24h).")
    quiet_hours_start = models.CharField(
        max_length=5, blank=True, default="21:00", help_text="In the learner's time zone; reminders wait until the end."
    )
    quiet_hours_end = models.CharField(max_length=5, blank=True, default="08:00")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "delivery policy"

    def __str__(self) -> str:
        return "Delivery policy"

    def clean(self) -> None:
        errors = {}
        if (self.max_messages is None) != (not self.per):
            errors["per"] = "A cap needs both a number of messages and a period (e.g. 3 per 24h), or neither."
        elif self.per:
            errors.update(_duration_error("per", self.per))
        for name in ("quiet_hours_start", "quiet_hours_end"):
            value = getattr(self, name)
            if value and not _CLOCK.match(value):
                errors[name] = f"{value!r} is not a time of day such as 21:00."
        if bool(self.quiet_hours_start) != bool(self.quiet_hours_end):
            errors["quiet_hours_end"] = "Quiet hours need both a start and an end, or neither."
        if errors:
            raise ValidationError(errors)


class ChannelCap(models.Model):
    policy = models.ForeignKey(DeliveryPolicy, on_delete=models.CASCADE, related_name="channel_caps")
    channel = models.CharField(max_length=10, choices=[(c, c) for c in CHANNELS])
    max_messages = models.PositiveIntegerField()
    per = models.CharField(max_length=20, help_text="e.g. 1h")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "channel"], name="one_cap_per_channel")]

    def __str__(self) -> str:
        return f"{self.channel}: {self.max_messages} per {self.per}"

    def clean(self) -> None:
        errors = _duration_error("per", self.per)
        if errors:
            raise ValidationError(errors)


_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _duration_error(field: str, text: str) -> dict[str, str]:
    try:
        if parse_duration(text).total_seconds() <= 0:
            return {field: "The period must be longer than zero."}
    except DurationError as exc:
        return {field: str(exc)}
    return {}


class LearnerPreference(models.Model):
    """A learner's own say over their reminders, set on their page or through ``/api/v1/me/preferences``: quiet
    hours (in their time zone), no reminders before a date, and channels not to use for them. The delivery policy
    and the simulator honour it beside the site's and the playbook's policy."""

    learner = models.OneToOneField("identity.Learner", on_delete=models.CASCADE, related_name="delivery_preference")
    quiet_hours_start = models.CharField(max_length=5, blank=True, help_text="e.g. 19:00, in your time zone.")
    quiet_hours_end = models.CharField(max_length=5, blank=True, help_text="e.g. 08:00.")
    snoozed_until = models.DateField(null=True, blank=True, help_text="No reminders before this day.")
    opted_out = models.JSONField(default=list, blank=True, help_text="Channels never used for this learner.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.learner}'s delivery preferences"

    def clean(self) -> None:
        errors = {}
        for name in ("quiet_hours_start", "quiet_hours_end"):
            value = getattr(self, name)
            if value and not _CLOCK.match(value):
                errors[name] = f"{value!r} is not a time of day such as 21:00."
        if bool(self.quiet_hours_start) != bool(self.quiet_hours_end):
            errors["quiet_hours_end"] = "Quiet hours need both a start and an end, or neither."
        elif self.quiet_hours_start and self.quiet_hours_start == self.quiet_hours_end:
            errors["quiet_hours_end"] = "Quiet hours need an end different from their start."
        if not isinstance(self.opted_out, list) or any(c not in OPTIONAL_CHANNELS for c in self.opted_out):
            errors["opted_out"] = f"Channels to opt out of are among {', '.join(OPTIONAL_CHANNELS)}."
        if errors:
            raise ValidationError(errors)


OPTIONAL_CHANNELS = ("email", "slack", "webhook")  # in_app is the learner's own page: always open
