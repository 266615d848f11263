"""Rollups: per day, playbook, version and role, what the dashboards and the analytics read instead of raw rows.

Two families, each kept per (playbook, day) partition by ``insights.services.rollups``:
- cohort rollups, by the day of enrolment (UTC): ``EnrollmentRollup``, ``ModuleRollup`` and the time-to-competency
  histogram;
- activity rollups, by the day a decision was taken for (UTC): ``ActivityRollup`` and the latency histogram.

``role`` is the learner's primary role (their oldest role assignment), blank for a learner with none.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from playbooks.engine.parameters import values_text

KEY = ("day", "playbook", "version", "role")


class Rollup(models.Model):
    day = models.DateField()
    playbook = models.ForeignKey("playbooks.Playbook", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("playbooks.PlaybookVersion", on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=100, blank=True)

    class Meta:
        abstract = True


class EnrollmentRollup(Rollup):
    """Enrolments begun that day, and how many of them have completed or ended so far."""

    enrolled = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    ended = models.PositiveIntegerField(default=0)

    class Meta:
        permissions = [("view_dashboard", "Can view the insights dashboards")]
        constraints = [models.UniqueConstraint(fields=KEY, name="enrollment_rollup_key")]
        indexes = [models.Index(fields=["playbook", "day"], name="enrollment_rollup_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.version_id} {self.role}: {self.completed}/{self.enrolled}"


class ModuleRollup(Rollup):
    """What the enrolments begun that day did with a module: reached (any progress), completed, skipped, and the
    seconds spent on those completed with a time reported. ``step`` is the path step the module belongs to in the
    version (a step id, else the module), blank for a module off the path (an inserted one)."""

    step = models.CharField(max_length=100, blank=True)
    module = models.CharField(max_length=100)
    reached = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    timed = models.PositiveIntegerField(default=0)
    seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=[*KEY, "step", "module"], name="module_rollup_key")]
        indexes = [models.Index(fields=["playbook", "day"], name="module_rollup_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.version_id} {self.role} {self.module}"


class ActivityMetric(models.TextChoices):
    TRIGGER_FIRED = "trigger_fired", "Trigger fired"
    TRIGGER_HELD = "trigger_held", "Trigger held back"
    # Reminders by what became of them; ``name`` is the channel (for a sent one, the channel that delivered it).
    REMINDER_SCHEDULED = "reminder_scheduled", "Reminder waiting"
    REMINDER_SENDING = "reminder_sending", "Reminder being sent"
    REMINDER_SENT = "reminder_sent", "Reminder sent"
    REMINDER_SUPPRESSED = "reminder_suppressed", "Reminder suppressed"
    REMINDER_DEAD = "reminder_dead", "Reminder failed"
    REMINDER_CANCELLED = "reminder_cancelled", "Reminder cancelled"


class ActivityRollup(Rollup):
    """Counts of decisions taken for that day, by metric and name (a trigger's name, a reminder's channel)."""

    metric = models.CharField(max_length=20, choices=ActivityMetric.choices)
    name = models.CharField(max_length=100)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=[*KEY, "metric", "name"], name="activity_rollup_key")]
        indexes = [models.Index(fields=["playbook", "day"], name="activity_rollup_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.metric} {self.name}: {self.count}"


class HistogramMetric(models.TextChoices):
    TIME_TO_COMPETENCY = "ttc", "Time to competency (seconds, by day of enrolment)"
    LATENCY = "latency", "Event to decision latency (milliseconds, by day decided)"


class HistogramRollup(Rollup):
    """How many values fell in each log-spaced bucket (insights.sketch), for percentiles over any slice."""

    metric = models.CharField(max_length=10, choices=HistogramMetric.choices)
    bucket = models.SmallIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=[*KEY, "metric", "bucket"], name="histogram_rollup_key")]
        indexes = [models.Index(fields=["playbook", "metric", "day"], name="histogram_rollup_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.metric} bucket {self.bucket}: {self.count}"


class FoldState(models.Model):
    """One row: up to when changes have been folded into the rollups (the next fold looks back from there), and
    which decisions have been: every id up to ``decision_top`` but those in ``decision_gaps``."""

    folded_until = models.DateTimeField(null=True, blank=True)
    decision_top = models.BigIntegerField(default=0, help_text="The highest decision id folded.")
    decision_gaps = models.JSONField(
        default=list,
        blank=True,
        help_text="[[first id, last id, when seen]]: ids under the top not yet seen (a transaction still open, or "
        "an id never used), read again by each fold until the look-back has passed.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"rollups folded until {self.folded_until}"


# The ledger: what each row of the raw tables was last folded as. A fold compares a changed row with its ledger
# entry and adds only the difference to the rollups; the key (day, version, role) of an enrolment's rows is the one
# in its EnrollmentSeen, so an enrolment that moves to another version or role has all its rows moved with it.


class EnrollmentSeen(models.Model):
    """An enrolment as last folded: what its key and its part of the cohort rollups are computed from."""

    enrollment = models.OneToOneField(
        "playbooks.Enrollment", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    playbook = models.ForeignKey("playbooks.Playbook", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("playbooks.PlaybookVersion", on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10)
    enrolled_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"enrolment {self.enrollment_id}: v{self.version_id} {self.role}"


class ProgressSeen(models.Model):
    """A module progress row as last folded into ModuleRollup (``seconds`` only when completed with a time)."""

    progress = models.OneToOneField(
        "playbooks.ModuleProgress", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    enrollment = models.ForeignKey("playbooks.Enrollment", on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=100, blank=True)
    module = models.CharField(max_length=100)
    completed = models.BooleanField(default=False)
    skipped = models.BooleanField(default=False)
    seconds = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"progress {self.progress_id}: {self.module}"


class ReminderSeen(models.Model):
    """A reminder as last folded into ActivityRollup: what had become of it, through which channel."""

    reminder = models.OneToOneField(
        "signals_app.Reminder", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    enrollment = models.ForeignKey("playbooks.Enrollment", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    metric = models.CharField(max_length=20)
    via = models.CharField(max_length=100)

    def __str__(self) -> str:
        return f"reminder {self.reminder_id}: {self.metric} {self.via}"


DEFAULT_SURVEY_QUESTION = "Was this relevant to your role?"


class Survey(models.Model):
    """A micro-survey asked after a module: offered on the learner page once they have completed it, answered there
    or through the API as a ``survey_answered`` event (``score`` 1-5, an optional ``comment``)."""

    module = models.OneToOneField("playbooks.ContentModule", on_delete=models.CASCADE, related_name="+")
    question = models.CharField(max_length=200, default=DEFAULT_SURVEY_QUESTION)
    is_active = models.BooleanField(default=True, help_text="Inactive surveys are no longer offered to learners.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["module__slug"]

    def __str__(self) -> str:
        return f"survey after {self.module.slug}"


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class Allocation(models.TextChoices):
    FIXED = "fixed", "Fixed weights"
    BANDIT = "bandit", "Bandit (Thompson sampling on completion)"


class Experiment(models.Model):
    """An experiment on a playbook: new learners are split between arms (published versions of the playbook, each
    with parameter values or not, and optionally a control group on the standard flow, the version published when it
    started), each kept on their arm's version and values for their whole journey; outcomes are compared per arm
    (``insights.experiment_results``)."""

    playbook = models.ForeignKey("playbooks.Playbook", on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    hypothesis = models.TextField(blank=True, help_text="What you expect to change, and why.")
    status = models.CharField(max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT)
    baseline_rate = models.FloatField(
        default=0.5, help_text="The completion rate expected of the control (or the first arm), 0.01 to 0.99."
    )
    minimum_effect = models.FloatField(
        default=0.1, help_text="The smallest change in completion rate worth detecting, absolute (0.1 = 10 points)."
    )
    alpha = models.FloatField(default=0.05, help_text="Significance level (two-sided).")
    power = models.FloatField(default=0.8, help_text="Chance of detecting the minimum effect when it is there.")
    allocation = models.CharField(
        max_length=10,
        choices=Allocation.choices,
        default=Allocation.FIXED,
        help_text="A bandit moves new learners towards the arm that completes best, every 15 minutes.",
    )
    floor = models.FloatField(
        default=0.05, help_text="A bandit's smallest share of new learners per arm, so that no arm starves (0 to 0.5)."
    )
    required_per_arm = models.PositiveIntegerField(
        null=True, blank=True, help_text="Learners per arm the power calculation asks for; set when it starts."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    winner = models.ForeignKey(
        "playbooks.PlaybookVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The arm chosen: two arms may share a version (with other parameter values), so the version alone is not it.
    winning_arm = models.ForeignKey(
        "ExperimentArm", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="winner arm"
    )
    promoted = models.ForeignKey(
        "playbooks.PlaybookVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version published from the winner.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two experiments splitting the same learners would each see the other's arms as noise.
            models.UniqueConstraint(
                fields=["playbook"], condition=Q(status="running"), name="experiment_one_running_per_playbook"
            ),
            models.CheckConstraint(
                condition=Q(baseline_rate__gt=0, baseline_rate__lt=1), name="experiment_baseline_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(alpha__gt=0, alpha__lt=0.5, power__gt=0.5, power__lt=1), name="experiment_alpha_power"
            ),
            models.CheckConstraint(condition=Q(floor__gte=0, floor__lte=0.5), name="experiment_floor_range"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"

    @property
    def key(self) -> str:
        """What the assignment hash is salted with: arms of two experiments are independent."""
        return f"experiment:{self.pk}"


class ExperimentArm(models.Model):
    """A version, with parameter values over its defaults (``{}``: the version as published)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    version = models.ForeignKey("playbooks.PlaybookVersion", on_delete=models.PROTECT, related_name="+")
    parameters = models.JSONField(
        default=dict, blank=True, help_text="Values of the version's declared parameters its learners evaluate."
    )
    is_control = models.BooleanField(default=False)
    weight = models.FloatField(default=1.0, help_text="Its share of new learners (the arms' weights are normalised).")

    class Meta:
        ordering = ["-is_control", "version__number", "pk"]
        constraints = [
            # jsonb compares mappings whatever their key order: the same values on the same version are one arm.
            models.UniqueConstraint(
                fields=["experiment", "version", "parameters"], name="experiment_arm_version_parameters_unique"
            ),
            models.CheckConstraint(condition=Q(weight__gte=0), name="experiment_arm_weight_not_negative"),
        ]

    def __str__(self) -> str:
        return (
            f"control (v{self.version.number})" if self.is_control else arm_label(self.version.number, self.parameters)
        )


def arm_label(number: int, parameters: dict) -> str:
    """``v3``, or ``v3 · fast_threshold=5`` for an arm setting parameter values: how arms are named everywhere."""
    values = values_text(parameters)
    return f"v{number} · {values}" if values else f"v{number}"


class ExperimentAssignment(models.Model):
    """Which arm a learner was put in, once and for good (``bucket`` is where their hash fell)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    arm = models.ForeignKey(ExperimentArm, on_delete=models.CASCADE, related_name="assignments")
    learner = models.ForeignKey("identity.Learner", on_delete=models.CASCADE, related_name="+")
    bucket = models.FloatField()
    assigned_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "learner"], name="experiment_assignment_once")]

    def __str__(self) -> str:
        return f"{self.learner_id} in {self.arm}"


class BanditAllocation(models.Model):
    """A change of a bandit's weights, with the posterior it was drawn from: ``arms`` is
    ``[{"arm": pk, "label", "alpha", "beta", "weight"}]``, alpha = 1 + completed and beta = 1 + not completed."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="allocations")
    arms = models.JSONField()
    seed = models.BigIntegerField(
        help_text="Seeds the posterior draws: the same posterior and seed give these weights."
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["experiment", "-created_at"], name="bandit_allocation_recent")]

    def __str__(self) -> str:
        return f"allocation of experiment {self.experiment_id} at {self.created_at:%Y-%m-%d %H:%M}"
