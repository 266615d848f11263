"""What the IdPs provisioned, read-only: the SCIM protocol is the only writer (and the sync, for the learners)."""

from django.contrib import admin

from common.admin import ReadOnlyAdminMixin
from identity.scim.models import ScimGroup, ScimGroupMember, ScimUser


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


@admin.register(ScimUser)
class ScimUserAdmin(ReadOnlyAdmin):
    list_display = ("user_name", "source", "external_id", "active", "learner", "last_modified", "deleted_at")
    list_filter = ("source", "active")
    search_fields = ("user_name", "external_id", "=id")
    list_select_related = ("source", "learner")
    fields = (
        "id",
        "source",
        "user_name",
        "external_id",
        "active",
        "learner",
        "document",
        "created_at",
        "last_modified",
        "version",
        "deleted_at",
    )


class ScimGroupMemberInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ScimGroupMember
    fk_name = "group"
    fields = ("position", "user", "member_group", "display")
    extra = 0


@admin.register(ScimGroup)
class ScimGroupAdmin(ReadOnlyAdmin):
    list_display = ("display_name", "source", "external_id", "last_modified")
    list_filter = ("source",)
    search_fields = ("display_name", "external_id", "=id")
    fields = ("id", "source", "display_name", "external_id", "document", "created_at", "last_modified", "version")
    inlines = (ScimGroupMemberInline,)
