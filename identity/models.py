from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KT
from django.db.models.functions import Lower

from identity.validators import validate_attributes, validate_timezone


class Role(models.Model):
    """A job role or audience (support_specialist, partner_admin) that playbooks target."""

    slug = models.SlugField(max_length=100, unique=True, help_text="Used in playbook audiences and conditions.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug


class LearnerQuerySet(models.QuerySet["Learner"]):
    def active(self) -> "LearnerQuerySet":
        return self.filter(is_active=True)

    def with_role(self, role_slug: str) -> "LearnerQuerySet":
        return self.filter(role_assignments__role__slug=role_slug).distinct()


class Learner(models.Model):
    """A person being onboarded, as the identity systems know them; ``external_id`` is their stable key."""

    external_id = models.CharField(max_length=255, unique=True, help_text="Stable id from the identity source.")
    email = models.EmailField(blank=True, db_index=True)
    display_name = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    locale = models.CharField(max_length=35, default="en", help_text="BCP 47 language tag, e.g. en or de-CH.")
    attributes = models.JSONField(default=dict, blank=True, validators=[validate_attributes])
    is_active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="learner",
        help_text="The login this learner uses for the learner page, if any.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LearnerQuerySet.as_manager()

    class Meta:
        ordering = ["external_id"]
        # Who manages whom (identity/managers.py) is read on every learner page: by this expression, not a scan.
        indexes = [
            models.Index(Lower(KT("attributes__manager")), name="learner_manager"),
            # The insights fold finds the learners changed since its last run by it, not by reading them all.
            models.Index(fields=["updated_at"], name="learner_updated"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_active=True, deactivated_at__isnull=True) | Q(is_active=False),
                name="learner_active_has_no_deactivated_at",
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="learner_external_id_not_empty"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.external_id


class RoleSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    LDAP = "ldap", "LDAP"
    SCIM = "scim", "SCIM"
    FILE = "file", "File import"
    API = "api", "HR system (API)"


class IdentitySource(models.Model):
    """A system that says who people are: an LDAP directory pulled nightly, an IdP pushing SCIM, files, an HR system
    pushing through the API. Each source adds and removes only its own claims (links, roles, attributes it maps).

    ``settings`` holds what its kind needs (an LDAP URL and base DN, a file path, …), never a secret: secrets come
    from the environment variable named in ``secret_env`` (or the file named by ``<secret_env>_FILE``).
    """

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=[c for c in RoleSource.choices if c[0] != "manual"])
    enabled = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True, help_text="What this kind of source needs; no secrets.")
    secret_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="The environment variable holding its secret (e.g. LDAP_BIND_PASSWORD), or NAME_FILE's file.",
    )
    external_id_from = models.CharField(
        max_length=100,
        blank=True,
        help_text="The source attribute that is a person's external id (e.g. employeeNumber); blank: its remote id.",
    )
    grace_period = models.CharField(
        max_length=20, default="7d", help_text="How long a person may be missing before they are deactivated."
    )
    deactivation_brake = models.PositiveSmallIntegerField(
        default=10,
        help_text="A run that would deactivate more than this percentage of the source's people stops and waits "
        "for an admin to confirm.",
    )
    schedule = models.CharField(
        max_length=100,
        default="0 2 * * *",
        help_text="When a pull source is synced (cron: minute hour day month day-of-week).",
    )
    api_key = models.OneToOneField(
        "ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="identity_source",
        help_text="Kind api: the key an HR system pushes learners with.",
    )
    token_prefix = models.CharField(max_length=12, blank=True, editable=False, help_text="SCIM: the bearer token's.")
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AttributeTransform(models.TextChoices):
    AS_IS = "", "as is"
    LOWER = "lower", "lower case"
    UPPER = "upper", "upper case"
    FIRST = "first", "first value of a list"
    JOIN = "join", "a list joined with commas"
    BOOLEAN = "boolean", "true/false (true, yes, 1, enabled)"
    INTEGER = "integer", "a whole number"


class AttributeMapping(models.Model):
    """One source attribute copied onto learners: ``mail`` → ``email``, ``department`` → ``attributes.department``."""

    source = models.ForeignKey(IdentitySource, on_delete=models.CASCADE, related_name="attribute_mappings")
    position = models.PositiveSmallIntegerField(default=0)
    source_attribute = models.CharField(max_length=100)
    target = models.CharField(
        max_length=100,
        help_text="email, display_name, timezone, locale, or attributes.<name> (a name usable in conditions).",
    )
    transform = models.CharField(max_length=10, choices=AttributeTransform.choices, blank=True, default="")

    class Meta:
        ordering = ["source", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["source", "target"], name="one_mapping_per_target")]

    def __str__(self) -> str:
        return f"{self.source_attribute} → {self.target}"


class RoleRule(models.Model):
    """Gives a role to the source's people whose entry matches ``when``: the condition language of playbooks over
    the entry's ``attributes`` (after mapping) and ``groups`` (a list of names), e.g.
    ``"cn=support,ou=groups,dc=example,dc=com" in groups and attributes.api_access == true``."""

    source = models.ForeignKey(IdentitySource, on_delete=models.CASCADE, related_name="role_rules")
    position = models.PositiveSmallIntegerField(default=0)
    when = models.TextField()
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["source", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.role.slug} when {self.when}"


_MISSING = Q(missing_since__isnull=False)


class SourceLink(models.Model):
    """A learner as one source knows them: its remote id (an LDAP entryUUID, a SCIM id, a file's id column), when it
    last saw them, since when they are missing, and hashes of their entry (an unchanged entry costs nothing)."""

    source = models.ForeignKey(IdentitySource, on_delete=models.CASCADE, related_name="links")
    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="source_links")
    remote_id = models.CharField(max_length=255)
    entry_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the mapped entry.")
    raw_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of what mapping read of the entry as the source gave it, with the source's mapping and "
        "role rules: the same digest next run, and the person is not even mapped.",
    )
    last_seen_at = models.DateTimeField()
    missing_since = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(
        null=True, blank=True, help_text="When this source deactivated the learner (a returning person reactivates)."
    )
    mapped = models.JSONField(
        default=dict,
        blank=True,
        help_text="The entry as last mapped (external_id, fields, attributes, groups, roles, enabled): what this "
        "source claims, for removing its own attributes, the role preview and the sync checks.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "remote_id"], name="link_unique_remote_id"),
            models.UniqueConstraint(fields=["source", "learner"], name="link_one_per_learner"),
        ]
        indexes = [models.Index(fields=["source", "missing_since"], condition=_MISSING, name="link_missing")]

    def __str__(self) -> str:
        return f"{self.source}:{self.remote_id}"


class SyncRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    HELD = "held", "Held by the deactivation brake"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):
    """One sync of a source, or a dry run of it: what it found and changed, its errors, a bounded diff."""

    source = models.ForeignKey(IdentitySource, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=SyncRunStatus.choices, default=SyncRunStatus.RUNNING)
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Written as the run goes; a running run silent for long lost its worker."
    )
    counts = models.JSONField(
        default=dict,
        blank=True,
        help_text="seen, created, updated, unchanged, missing, deactivated, reactivated, roles_added, roles_removed, "
        "errors",
    )
    errors = models.JSONField(default=list, blank=True, help_text="[{entry, field, message}], the first 1,000.")
    diff = models.JSONField(default=list, blank=True, help_text="What changed, person by person: the first 1,000.")
    checks = models.JSONField(default=list, blank=True, help_text="Sync checks: people with no role, conflicts, …")
    held_reason = models.TextField(blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            # One run of a source at a time: a second start finds this one and leaves.
            models.UniqueConstraint(
                fields=["source"], condition=Q(status="running", dry_run=False), name="one_running_sync_per_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} sync {self.started_at:%Y-%m-%d %H:%M}"


class RoleAssignment(models.Model):
    """A learner holds a role because a source says so; each source adds and removes only its own rows.

    ``identity_source`` is the source that claims it (null for a role given by hand in the admin).
    """

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="assignments")
    source = models.CharField(max_length=10, choices=RoleSource.choices, default=RoleSource.MANUAL)
    identity_source = models.ForeignKey(
        IdentitySource, null=True, blank=True, on_delete=models.CASCADE, related_name="role_assignments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        # The insights fold finds the roles given since its last run by it, not by reading them all.
        indexes = [models.Index(fields=["created_at"], name="role_assignment_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "role", "source"],
                condition=Q(identity_source__isnull=True),
                name="role_assignment_unique_per_source",
            ),
            models.UniqueConstraint(
                fields=["learner", "role", "identity_source"],
                condition=Q(identity_source__isnull=False),
                name="role_assignment_unique_per_identity_source",
            ),
        ]
        indexes = [models.Index(fields=["role", "learner"])]

    def __str__(self) -> str:
        return f"{self.role.slug} ({self.get_source_display()})"


class ApiScope(models.TextChoices):
    EVENTS_WRITE = "events:write", "Send behaviour events"
    LEARNERS_READ = "learners:read", "Read learners' next modules, progress and decisions"
    LEARNERS_WRITE = "learners:write", "Create, update and deactivate learners (HR systems)"
    PLAYBOOKS_SIMULATE = "playbooks:simulate", "Simulate playbooks"
    ANALYTICS_READ = "analytics:read", "Read the insights figures (BI tools)"


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def usable(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A service's key to the API. Only a hash is stored: the key itself is shown once, when it is created."""

    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'LMS connector'.")
    prefix = models.CharField(max_length=12, unique=True, editable=False, help_text="Identifies the key in logs.")
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="What the key may do.")
    can_create_learners = models.BooleanField(
        default=False, help_text="Events for an unknown learner create them instead of being refused."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return self.revoked_at is None and scope in self.scopes


class LearnerToken(models.Model):
    """A learner's personal token for apps acting on their behalf; stored hashed, shown once."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, help_text="Where it is used, e.g. 'mobile app'.")
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
