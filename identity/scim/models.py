"""The SCIM resources an identity provider wrote, kept per ``IdentitySource`` (a token only ever sees its own).

``document`` is the resource as the IdP sent it, in SCIM's JSON form, without what the columns hold (``id``,
``meta``), what is computed (a user's ``groups``, a group's ``members``, kept as ``ScimGroupMember`` rows) and what is
never kept (``password``). Attributes no schema declares are kept in it too and given back. ``version`` is the ETag.
"""

import uuid

from django.db import models
from django.db.models import Q

from identity.models import IdentitySource, Learner


class ScimUser(models.Model):
    """A person as the IdP provisioned them. A DELETE keeps the row (``deleted_at``, inactive): the learner is
    deactivated by the sync, and the id answers 404 from then on, as RFC 7644 §3.6 asks."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, help_text="The SCIM id we assigned.")
    source = models.ForeignKey(IdentitySource, on_delete=models.CASCADE, related_name="scim_users")
    user_name = models.CharField(max_length=255)
    user_name_key = models.CharField(
        max_length=300, editable=False, help_text="userName as compared (case-insensitive, NFC): unique per source."
    )
    external_id = models.CharField(max_length=255, blank=True, help_text="The IdP's own id for the person.")
    active = models.BooleanField(default=True, help_text="False: disabled by the IdP (active=false) or deleted.")
    manager_ref = models.CharField(
        max_length=255, blank=True, help_text="The enterprise manager's value (their SCIM id), to re-apply reports."
    )
    document = models.JSONField(default=dict, blank=True)
    learner = models.ForeignKey(
        Learner,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="scim_users",
        help_text="The learner the sync created or linked for this person.",
    )
    created_at = models.DateTimeField()
    last_modified = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="When the IdP deleted the person.")

    class Meta:
        verbose_name = "SCIM user"
        ordering = ["source", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "user_name_key"],
                condition=Q(deleted_at__isnull=True),
                name="scim_user_unique_user_name",
            ),
        ]
        indexes = [
            models.Index(fields=["source", "created_at", "id"], name="scim_user_listing"),
            models.Index(fields=["source", "external_id"], name="scim_user_external_id"),
            models.Index(fields=["source", "manager_ref"], name="scim_user_manager"),
        ]

    def __str__(self) -> str:
        return self.user_name


class ScimGroup(models.Model):
    """A group as the IdP provisioned it; its display name is what role rules see in ``groups``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(IdentitySource, on_delete=models.CASCADE, related_name="scim_groups")
    display_name = models.CharField(max_length=255)
    display_name_key = models.CharField(max_length=300, editable=False)
    external_id = models.CharField(max_length=255, blank=True)
    document = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    last_modified = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = "SCIM group"
        ordering = ["source", "created_at", "id"]
        indexes = [
            models.Index(fields=["source", "created_at", "id"], name="scim_group_listing"),
            models.Index(fields=["source", "display_name_key"], name="scim_group_display_name"),
            models.Index(fields=["source", "external_id"], name="scim_group_external_id"),
        ]

    def __str__(self) -> str:
        return self.display_name


class ScimGroupMember(models.Model):
    """One member of a group, a user or a group (nested groups count for the users inside them), in the IdP's order."""

    group = models.ForeignKey(ScimGroup, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(ScimUser, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships")
    member_group = models.ForeignKey(
        ScimGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="parent_memberships"
    )
    display = models.CharField(max_length=255, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["group", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, member_group__isnull=True)
                | Q(user__isnull=True, member_group__isnull=False),
                name="scim_member_is_user_or_group",
            ),
            models.UniqueConstraint(fields=["group", "user"], name="scim_member_user_once"),
            models.UniqueConstraint(fields=["group", "member_group"], name="scim_member_group_once"),
        ]

    def __str__(self) -> str:
        return f"{self.group} ∋ {self.user or self.member_group}"
