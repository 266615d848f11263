from django.conf import settings
from django.db import models
from django.db.models import Q

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


class RoleAssignment(models.Model):
    """A learner holds a role because a source says so; each source adds and removes only its own rows."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="assignments")
    source = models.CharField(max_length=10, choices=RoleSource.choices, default=RoleSource.MANUAL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["learner", "role", "source"], name="role_assignment_unique_per_source"),
        ]
        indexes = [models.Index(fields=["role", "learner"])]

    def __str__(self) -> str:
        return f"{self.role.slug} ({self.get_source_display()})"


class ApiScope(models.TextChoices):
    EVENTS_WRITE = "events:write", "Send behaviour events"
    LEARNERS_READ = "learners:read", "Read learners' next modules, progress and decisions"
    PLAYBOOKS_SIMULATE = "playbooks:simulate", "Simulate playbooks"


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
