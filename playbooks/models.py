from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from common.fields import WholeJSONField
from playbooks.engine.shapes import web_url_problem
from playbooks.engine.spec import AGGREGATES, PRIORITY_RANGE, SEQUENCE
from playbooks.validators import validate_tags


def validate_web_url(value: str) -> None:
    """A module's link: http(s) only, the same rule as a playbook file's ``modules[i].url``."""
    problem = web_url_problem(value) if value else None
    if problem:
        raise ValidationError(problem[0].upper() + problem[1:] + ".", code="not_a_web_url")


class ModuleKind(models.TextChoices):
    ARTICLE = "article", "Article"
    VIDEO = "video", "Video"
    CHECKLIST = "checklist", "Checklist"
    QUIZ = "quiz", "Quiz"
    COURSE = "course", "Course"
    INTERACTIVE = "interactive", "Interactive walkthrough"
    LINK = "link", "External link"


class ContentModuleQuerySet(models.QuerySet["ContentModule"]):
    def active(self) -> "ContentModuleQuerySet":
        return self.filter(is_active=True)


class ContentModule(models.Model):
    """One piece of onboarding content in the shared library; playbooks refer to it by slug."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ModuleKind.choices, default=ModuleKind.ARTICLE)
    url = models.URLField(
        max_length=500,
        blank=True,
        validators=[validate_web_url],
        help_text="Where the content lives, if outside this site: an http:// or https:// address.",
    )
    body = models.TextField(blank=True, help_text="Content shown on the learner page (plain text or Markdown).")
    minutes = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(600)], help_text="Expected time to complete."
    )
    tags = models.JSONField(default=list, blank=True, validators=[validate_tags])
    is_active = models.BooleanField(default=True, help_text="Inactive modules are never offered to learners.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContentModuleQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=Q(minutes__gte=1, minutes__lte=600), name="content_module_minutes_range"),
            models.CheckConstraint(condition=Q(kind__in=ModuleKind.values), name="content_module_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.slug})"


class Playbook(models.Model):
    """A named onboarding journey; its content lives in versions, of which at most one is published."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class AudienceExit(models.TextChoices):
    """What becomes of an active enrolment when its learner no longer matches the playbook's audience."""

    END = "end", "End the enrolment"
    KEEP = "keep", "Keep the enrolment"


PRIORITY_MIN, PRIORITY_MAX = PRIORITY_RANGE


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class PlaybookVersion(models.Model):
    """One version of a playbook. Drafts are edited; a published version never changes again."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    audience_roles = models.ManyToManyField("identity.Role", blank=True, related_name="playbook_versions")
    audience_when = models.TextField(blank=True, help_text="Optional condition learners must also meet.")
    on_audience_exit = models.CharField(
        max_length=4,
        choices=AudienceExit.choices,
        default=AudienceExit.END,
        help_text="When a learner no longer matches the audience (a role or attribute changed): end their "
        "enrolment (it comes back where it stood if they match again), or keep it.",
    )
    priority = models.SmallIntegerField(
        default=0,
        validators=[MinValueValidator(PRIORITY_MIN), MaxValueValidator(PRIORITY_MAX)],
        help_text=f"A learner in several playbooks is served the highest priority's next module first (ties: the "
        f"oldest enrolment). {PRIORITY_MIN} to {PRIORITY_MAX}; the published version's counts.",
    )
    frequency_cap_max = models.PositiveSmallIntegerField(null=True, blank=True)
    frequency_cap_per = models.CharField(max_length=20, blank=True, help_text="A duration such as 24h.")
    quiet_hours_start = models.CharField(max_length=5, blank=True, help_text="HH:MM in the learner's time zone.")
    quiet_hours_end = models.CharField(max_length=5, blank=True)
    # [[role, [tags]], ...]: pairs, not a mapping, because jsonb reorders keys and export gives back the file's order.
    role_tags = models.JSONField(default=list, blank=True, help_text="Each role's default tags: [[role, [tags]], ...].")
    tests = models.JSONField(default=list, blank=True, help_text="Saved journeys that must pass before publishing.")
    # [[name, default], ...]: pairs in the file's order, as role_tags; conditions read them as params.<name>.
    parameters = models.JSONField(default=list, blank=True, help_text="Named values: [[name, default], ...].")
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(m2m_fields=[audience_roles])

    class Meta:
        ordering = ["playbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_number_unique"),
            models.UniqueConstraint(
                fields=["playbook"], condition=Q(status="published"), name="playbook_one_published_version"
            ),
            models.UniqueConstraint(fields=["playbook"], condition=Q(status="draft"), name="playbook_one_draft"),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(published_at__isnull=False), name="playbook_version_published_at_set"
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=PRIORITY_MIN, priority__lte=PRIORITY_MAX), name="playbook_version_priority"
            ),
            models.CheckConstraint(
                condition=Q(on_audience_exit__in=AudienceExit.values), name="playbook_version_on_audience_exit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.playbook.slug} v{self.number} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == VersionStatus.DRAFT


class Block(models.Model):
    """A reusable block: signals, triggers and steps that playbooks include by slug, pinned to one of its versions."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "reusable block"

    def __str__(self) -> str:
        return self.slug


class BlockVersion(models.Model):
    """One version of a block, as its file was written. Never changed once saved: a playbook version pinning it
    always runs the same content, and a change to the block is a new version that a new playbook version pins."""

    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField(help_text="The block's YAML file: slug, name, include, signals, steps, triggers.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["block", "-number"]
        constraints = [models.UniqueConstraint(fields=["block", "number"], name="block_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.block.slug} v{self.number}"


class VersionInclude(models.Model):
    """A block version a playbook version includes, in file order; what the admin's "where used" lists."""

    version = models.ForeignKey(PlaybookVersion, on_delete=models.CASCADE, related_name="includes")
    block_version = models.ForeignKey(BlockVersion, on_delete=models.PROTECT, related_name="uses")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["version", "position"], name="version_include_position_unique")]

    def __str__(self) -> str:
        return str(self.block_version)


class VersionModule(models.Model):
    """A module the version's file declares, in file order (so export gives back what was imported)."""

    version = models.ForeignKey(PlaybookVersion, on_delete=models.CASCADE, related_name="module_entries")
    module = models.ForeignKey(ContentModule, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["version", "module"], name="version_module_unique")]

    def __str__(self) -> str:
        return self.module.slug


class Step(models.Model):
    """A step of the path: a module step (``module`` set) or a branch point (options, no module)."""

    version = models.ForeignKey(PlaybookVersion, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    step_id = models.SlugField(max_length=100, blank=True, help_text="Required on branch points.")
    module = models.ForeignKey(ContentModule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    required = models.BooleanField(
        default=False,
        help_text="Compliance: no goto, swap or complete passes this step before its module is completed.",
    )
    tags = models.JSONField(
        default=list, blank=True, help_text="Pick the module by tags when the step is reached (no module then)."
    )
    due_after = models.CharField(max_length=20, blank=True, help_text="Due this long (e.g. 3d) after due_from.")
    # Blank when the file leaves 'from' out (meaning 'reached'): export gives back what was written.
    due_from = models.CharField(max_length=10, blank=True, help_text="reached (the default) or enrolment.")
    readiness = models.BooleanField(
        default=False, help_text="The readiness milestone: completing it records the learner's time to competency."
    )
    block = models.SlugField(
        max_length=100, blank=True, help_text="An included block's slug: its steps go here (nothing else is set)."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="step_position_unique"),
            models.CheckConstraint(condition=Q(required=False) | Q(module__isnull=False), name="step_required_module"),
            models.UniqueConstraint(
                fields=["version"], condition=Q(readiness=True), name="step_one_readiness_per_version"
            ),
            models.CheckConstraint(
                condition=Q(due_from__in=["", "reached", "enrolment"]) & (Q(due_from="") | ~Q(due_after="")),
                name="step_due_from_known",
            ),
            models.UniqueConstraint(
                fields=["version", "step_id"], condition=~Q(step_id=""), name="step_id_unique_in_version"
            ),
        ]

    def __str__(self) -> str:
        return self.step_id or (self.module.slug if self.module_id else f"step {self.position}")


class BranchOption(models.Model):
    """One way out of a branch point; a blank ``when`` is the final ``otherwise``."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="options")
    position = models.PositiveIntegerField()
    when = models.TextField(blank=True, help_text="Leave blank for 'otherwise' (must be the last option).")
    module = models.ForeignKey(ContentModule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    goto = models.SlugField(max_length=100, blank=True, help_text="Jump to a later step instead of giving a module.")
    explain = models.TextField(
        blank=True,
        help_text="The reason the learner reads, e.g. 'You took {avg_module_seconds} seconds a module, so here is "
        "the advanced track'. Names in braces are filled in; blank: a sentence written from the condition.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["step__position", "position"]
        constraints = [
            models.UniqueConstraint(fields=["step", "position"], name="branch_option_position_unique"),
            models.CheckConstraint(
                condition=(Q(module__isnull=False) & Q(goto="")) | (Q(module__isnull=True) & ~Q(goto="")),
                name="branch_option_module_or_goto",
            ),
        ]

    def __str__(self) -> str:
        target = self.module.slug if self.module_id else f"goto {self.goto}"
        return f"{self.when or 'otherwise'} → {target}"


class Trigger(models.Model):
    version = models.ForeignKey(PlaybookVersion, on_delete=models.CASCADE, related_name="triggers")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    when = models.TextField()
    actions = models.JSONField(help_text='A list such as [{"insert_module": "remedial-demo"}].')
    limit_per_learner = models.PositiveIntegerField(null=True, blank=True)
    limit_per = models.CharField(
        max_length=20, blank=True, help_text="A duration such as 24h: the limit counts in any window this long."
    )
    cooldown = models.CharField(max_length=20, blank=True, help_text="A duration such as 1h between two firings.")
    explain = models.TextField(
        blank=True,
        help_text="The reason the learner reads, e.g. 'You took {avg_module_seconds} seconds a module, so here is "
        "the advanced track'. Names in braces are filled in; blank: a sentence written from the condition.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="trigger_name_unique_in_version")]

    def __str__(self) -> str:
        return self.name


class SignalDefinition(models.Model):
    version = models.ForeignKey(PlaybookVersion, on_delete=models.CASCADE, related_name="signals")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100)
    event = models.CharField(max_length=100)
    aggregate = models.CharField(max_length=20, choices=[(a, a) for a in (*AGGREGATES, SEQUENCE)])
    property = models.CharField(max_length=100, blank=True)
    window = models.CharField(max_length=20, blank=True, help_text="A duration such as 7d; blank for all time.")
    where = models.TextField(blank=True)
    sequence = models.JSONField(
        default=list, blank=True, help_text='A sequence signal\'s steps: [{"event": "page_view", "where": "..."}].'
    )
    within = models.CharField(max_length=20, blank=True, help_text="A sequence's longest span, e.g. 30m.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "name"]
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="signal_name_unique_in_version")]

    def __str__(self) -> str:
        return self.name


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    ENDED = "ended", "Ended (left the audience or the company)"


class EndedReason(models.TextChoices):
    LEFT_AUDIENCE = "left_audience", "Left the playbook's audience"
    DEACTIVATED = "deactivated", "Left the company (deactivated)"


class Enrollment(models.Model):
    """A learner on a playbook, pinned to one version; ``state`` is the engine's JourneyState."""

    # Indexed by the (learner, playbook) and (learner, status) indexes below, which serve the look-ups by learner.
    learner = models.ForeignKey(
        "identity.Learner", on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="enrollments")
    version = models.ForeignKey(PlaybookVersion, on_delete=models.PROTECT, related_name="enrollments")
    migrate_to = models.ForeignKey(
        PlaybookVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Moves to this version at the learner's next step boundary.",
    )
    status = models.CharField(max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE)
    state = WholeJSONField(default=dict)
    # The engine's running tally of the learner's signals (playbooks/engine/tally.py) and the id of the last event
    # folded into it, so that an evaluation reads only the new events; empty until rebuilt from the history.
    tally = WholeJSONField(default=dict, blank=True)
    # The event types that could change the journey from where it stands (engine/quiet.py), stored with the state:
    # the worker marks the learner's other events evaluated without running the engine. Null: any type could.
    decisive_kinds = WholeJSONField(null=True, blank=True, default=None, editable=False)
    # The engine's answer, stored at each evaluation so that reading the next module is one indexed query.
    current_step = models.CharField(max_length=100, blank=True)
    current_module = models.ForeignKey(ContentModule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    current_reason = WholeJSONField(default=dict, blank=True)
    steps_done = models.PositiveIntegerField(default=0)
    steps_total = models.PositiveIntegerField(default=0)
    enrolled_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    # When the learner completed the playbook's readiness step: ready_at - enrolled_at is their time to competency.
    ready_at = models.DateTimeField(null=True, blank=True)
    # Set while the enrolment is ended; an enrolment given back (the learner matches again) is active again, where
    # it stood, and these are cleared.
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=20, choices=EndedReason.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["enrolled_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["learner", "playbook"], name="enrollment_once_per_playbook"),
            models.CheckConstraint(
                condition=(Q(status="ended") & Q(ended_at__isnull=False) & ~Q(ended_reason=""))
                | (~Q(status="ended") & Q(ended_at__isnull=True) & Q(ended_reason="")),
                name="enrollment_ended_has_when_and_why",
            ),
        ]
        indexes = [
            models.Index(fields=["learner", "status"]),
            # The insights fold finds the enrolments changed since its last run by it, not by reading them all.
            models.Index(fields=["updated_at"], name="enrollment_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.learner} on {self.version}"


class ProgressStatus(models.TextChoices):
    STARTED = "started", "Started"
    COMPLETED = "completed", "Completed"
    SKIPPED = "skipped", "Skipped"


class ModuleProgress(models.Model):
    # Indexed by the (enrollment, module) constraint below, which serves the look-ups by enrolment.
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="progress", db_index=False)
    module = models.ForeignKey(ContentModule, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=ProgressStatus.choices, default=ProgressStatus.STARTED)
    seconds = models.PositiveIntegerField(default=0)
    completion_pct = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["enrollment", "started_at", "pk"]
        # The insights fold finds the rows changed since its last run by it, not by reading them all.
        indexes = [models.Index(fields=["updated_at"], name="progress_updated")]
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "module"], name="module_progress_once"),
            models.CheckConstraint(condition=Q(completion_pct__lte=100), name="module_progress_pct_max_100"),
        ]

    def __str__(self) -> str:
        return f"{self.module.slug}: {self.get_status_display()}"
