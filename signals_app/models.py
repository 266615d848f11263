from django.conf import settings
from django.db import models
from django.db.models import Q

from common.metrics import count_decisions_on_commit


class Event(models.Model):
    """A behaviour event, stored before it is acknowledged; ``processed_at`` is set once it has been evaluated.

    ``(source, client_id)`` is unique: a client retrying a POST sends the same ids and gets duplicates, not copies.
    """

    source = models.CharField(max_length=40, help_text="Who sent it: key:<api key id> or web:<learner id>.")
    client_id = models.CharField(max_length=200)
    # No index of its own: (learner, occurred_at) below serves every look-up by learner, and one index fewer is one
    # write fewer for each event stored and each marked evaluated.
    learner = models.ForeignKey("identity.Learner", on_delete=models.CASCADE, related_name="events", db_index=False)
    type = models.CharField(max_length=64)
    module = models.CharField(max_length=100, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # A database default: ingestion inserts rows by raw SQL (COPY) that names only the columns it fills.
    conflicting_retries = models.PositiveIntegerField(
        db_default=0, help_text="Retries of this id whose body differed (the first body is kept)."
    )
    last_conflict_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "client_id"], name="event_unique_per_source")]
        indexes = [
            models.Index(fields=["received_at"], condition=Q(conflicting_retries__gt=0), name="event_conflicted"),
            models.Index(fields=["learner", "occurred_at"]),
            models.Index(fields=["type", "occurred_at"]),
            # The sweeper's and the worker's look-up of work still to do stays small however big the table gets.
            models.Index(fields=["received_at"], condition=Q(processed_at__isnull=True), name="event_unprocessed"),
            # A batch reads its learners' pending events only: not through every event they ever sent.
            models.Index(
                fields=["learner", "occurred_at"],
                condition=Q(processed_at__isnull=True),
                name="event_pending_by_learner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} by {self.learner_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class Quarantine(models.Model):
    """A learner whose evaluation failed even when tried alone: their events wait, out of everyone else's way, until
    an admin retries them (the error says what to fix). Evaluation and the sweepers skip quarantined learners."""

    learner = models.OneToOneField("identity.Learner", on_delete=models.CASCADE, related_name="quarantine")
    error = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.learner} quarantined"


class DecisionQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        # Every writer of the log (evaluation, the reminder policy, experiments) inserts in bulk: counted here once,
        # for /metrics, when the transaction commits (the simulator's rolled-back rows count nothing).
        created = super().bulk_create(objs, *args, **kwargs)
        count_decisions_on_commit(decision.kind for decision in created)
        return created


class Decision(models.Model):
    """One row of the decision log: what the engine decided, the rule, and the values it saw."""

    # Indexed by (learner, decided_at) below, which serves the look-ups by learner.
    learner = models.ForeignKey("identity.Learner", on_delete=models.CASCADE, related_name="decisions", db_index=False)
    enrollment = models.ForeignKey("playbooks.Enrollment", on_delete=models.CASCADE, related_name="decisions")
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    # Unique per evaluation: a redelivered task that evaluates the same event again cannot log it twice.
    dedupe_key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20)
    rule = models.TextField()
    explanation = models.TextField()
    # The reason as the learner reads it (no condition text): the learner's own API and page show this instead.
    text = models.TextField(blank=True, default="")
    values = models.JSONField(default=dict, blank=True)
    step = models.CharField(max_length=100, blank=True)
    module = models.CharField(max_length=100, blank=True)
    action = models.JSONField(null=True, blank=True)
    decided_at = models.DateTimeField(help_text="The moment the engine decided for (the event's time, or the clock).")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["decided_at", "pk"]
        indexes = [models.Index(fields=["learner", "decided_at"]), models.Index(fields=["kind", "decided_at"])]

    def __str__(self) -> str:
        return f"{self.kind}: {self.rule}"


class Flag(models.Model):
    """A learner raised for a supervisor's attention by a trigger's ``flag`` action."""

    learner = models.ForeignKey("identity.Learner", on_delete=models.CASCADE, related_name="flags")
    enrollment = models.ForeignKey("playbooks.Enrollment", on_delete=models.CASCADE, related_name="flags")
    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="flag")
    name = models.CharField(max_length=100)
    raised_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-raised_at"]
        indexes = [models.Index(fields=["name"], condition=Q(acknowledged_at__isnull=True), name="flag_open")]

    def __str__(self) -> str:
        return f"{self.name} for {self.learner}"


class FlagRoute(models.Model):
    """Who else hears of a flag: the flagged learner's manager (their ``manager`` attribute, from the directory),
    by e-mail and on their own page. Flags always reach the staff list in the admin as well."""

    name = models.SlugField(max_length=100, help_text="The flag's name, as a playbook's flag action raises it.")
    playbook = models.ForeignKey(
        "playbooks.Playbook",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Only this playbook's flags of that name; blank: every playbook's.",
    )
    notify_manager = models.BooleanField(default=True, help_text="Tell the learner's manager.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "playbook"], name="flag_route_once_per_playbook"),
            models.UniqueConstraint(
                fields=["name"], condition=Q(playbook__isnull=True), name="flag_route_once_for_all_playbooks"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} → manager" + (f" ({self.playbook})" if self.playbook_id else "")


class ReminderStatus(models.TextChoices):
    """How the delivery policy planned it; its delivery is its message's status."""

    SCHEDULED = "scheduled", "Scheduled"
    SUPPRESSED = "suppressed", "Suppressed"


class Reminder(models.Model):
    """A trigger's ``remind`` action, planned under the delivery policy; what became of it is its outbox message's
    story (sent, retried, dead-lettered, cancelled).

    ``note`` says why it was deferred or suppressed.
    """

    learner = models.ForeignKey("identity.Learner", on_delete=models.CASCADE, related_name="reminders")
    enrollment = models.ForeignKey("playbooks.Enrollment", on_delete=models.CASCADE, related_name="reminders")
    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="reminder")
    channel = models.CharField(max_length=20, help_text="The channel the playbook asked for.")
    fallback = models.CharField(max_length=20, blank=True, help_text="Tried when the channel cannot reach them.")
    template = models.CharField(max_length=100, blank=True)
    attach_module = models.CharField(max_length=100, blank=True)
    module = models.CharField(
        max_length=100, blank=True, help_text="The module the learner was on; doing it cancels the reminder."
    )
    endpoint = models.CharField(max_length=100, blank=True, help_text="The webhook or Slack endpoint named, if any.")
    due_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=ReminderStatus.choices, default=ReminderStatus.SCHEDULED)
    note = models.TextField(blank=True)
    message = models.OneToOneField(
        "delivery.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="reminder"
    )

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [models.Index(fields=["learner", "due_at"])]

    def __str__(self) -> str:
        return f"{self.channel} reminder for {self.learner_id} at {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def delivery_status(self) -> str:
        """Suppressed, or what its message went through: scheduled, sending, sent, dead, cancelled."""
        return self.message.status if self.message_id else self.status


class CohortRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class CohortRun(models.Model):
    """A cohort simulation an admin started: its inputs, its progress, and the report (the simulated learners
    themselves are never kept)."""

    version = models.ForeignKey("playbooks.PlaybookVersion", on_delete=models.CASCADE, related_name="cohort_runs")
    against = models.ForeignKey(
        "playbooks.PlaybookVersion",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The version it is compared with (usually the published one).",
    )
    template = models.TextField(help_text="The journey template (YAML).")
    learners_csv = models.TextField(blank=True)
    learners = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=CohortRunStatus.choices, default=CohortRunStatus.QUEUED)
    done = models.PositiveIntegerField(default=0, help_text="Learner runs finished.")
    total = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Moved as the run progresses; a run whose worker was lost stops moving."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"cohort run {self.pk} on {self.version}"


class CohortChunk(models.Model):
    """A slice of a cohort run's learners, run by one task on every version of the run; its tallies are kept until
    the last slice finishes and the run's report adds them up."""

    run = models.ForeignKey(CohortRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first = models.PositiveIntegerField(help_text="The slice's first learner, numbered from 0.")
    last = models.PositiveIntegerField(help_text="The learner after its last.")
    tallies = models.JSONField(null=True, blank=True, help_text="Per version, its counts; empty until it ran.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="cohort_chunk_once")]

    def __str__(self) -> str:
        return f"learners {self.first + 1}-{self.last} of cohort run {self.run_id}"
