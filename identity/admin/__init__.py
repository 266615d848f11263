"""The identity admin: learners, roles, keys and tokens here; identity sources, runs and links in ``sources``."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from common.forms import StorableJSONField
from identity import selectors, services
from identity.models import ApiKey, ApiScope, Learner, LearnerToken, Role, RoleAssignment


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0
    fields = ("role", "source", "identity_source", "created_at")
    readonly_fields = ("identity_source", "created_at")
    autocomplete_fields = ("role",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RoleAssignment]:
        # A configured source's claims are the sync's to add and remove; only the others are edited here.
        return super().get_queryset(request).select_related("role", "identity_source")


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "learner_count", "updated_at")
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Role]:
        return selectors.role_list_with_learner_counts()

    @admin.display(description="Learners", ordering="learner_count")
    def learner_count(self, role: Role) -> int:
        return role.learner_count

    def save_model(self, request: HttpRequest, obj: Role, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in services.ROLE_FIELDS}
        if change:
            services.role_update(role=Role.objects.get(pk=obj.pk), data=data)
        else:
            obj.__dict__.update(services.role_create(**data).__dict__)


@admin.register(Learner)
class LearnerAdmin(admin.ModelAdmin):
    # JSON nested too deep or holding a NUL is an error on the field, not a server error.
    formfield_overrides = {models.JSONField: {"form_class": StorableJSONField}}
    list_display = ("external_id", "display_name", "email", "roles", "is_active", "timezone", "updated_at")
    list_filter = ("is_active", "role_assignments__role", "role_assignments__source")
    search_fields = ("external_id", "email", "display_name")
    autocomplete_fields = ("user",)
    readonly_fields = ("is_active", "deactivated_at", "created_at", "updated_at", "identity_sources")
    fieldsets = (
        (None, {"fields": ("external_id", "display_name", "email", "user")}),
        ("Locale", {"fields": ("timezone", "locale")}),
        ("Identity attributes", {"fields": ("attributes", "identity_sources")}),
        ("Status", {"fields": ("is_active", "deactivated_at", "created_at", "updated_at")}),
    )
    inlines = (RoleAssignmentInline,)
    actions = ("deactivate", "reactivate")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Learner]:
        return selectors.learner_list()

    def get_readonly_fields(self, request: HttpRequest, obj: Learner | None = None) -> tuple[str, ...]:
        # external_id is the key identity sources match on: editable only when the learner is created by hand.
        return (*self.readonly_fields, "external_id") if obj else self.readonly_fields

    @admin.display(description="Identity sources")
    def identity_sources(self, learner: Learner) -> str:
        """Which sources know the learner, as whom, when they last said something new, since when they are missing
        (read-only: the sync keeps them)."""
        if not learner.pk:
            return "-"
        rows = (
            (
                link.source.name,
                link.remote_id,
                f"{link.last_seen_at:%Y-%m-%d %H:%M}",
                f"{link.missing_since:%Y-%m-%d %H:%M}" if link.missing_since else "-",
                f"{link.deactivated_at:%Y-%m-%d %H:%M}" if link.deactivated_at else "-",
            )
            for link in selectors.source_links_of_learner(learner=learner)
        )
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        if not body:
            return "none (created by hand or by events)"
        return format_html(
            "<table><tr><th>source</th><th>remote id</th><th>last changed</th><th>missing since</th>"
            "<th>withdrawn</th></tr>{}</table>",
            body,
        )

    @admin.display(description="Roles")
    def roles(self, learner: Learner) -> str:
        return ", ".join(selectors.learner_role_slugs(learner=learner)) or "-"

    def save_model(self, request: HttpRequest, obj: Learner, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in services.LEARNER_UPDATE_FIELDS}
        if change:
            services.learner_update(learner=Learner.objects.get(pk=obj.pk), data=data)
        else:
            learner = services.learner_create(external_id=form.cleaned_data["external_id"], **data)
            obj.__dict__.update(learner.__dict__)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not RoleAssignment:
            return super().save_formset(request, form, formset, change)
        learner = form.instance
        # The admin's change message reads these three lists, which formset.save() would otherwise fill.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.deleted_forms:
            if inline_form.instance.pk:
                old = inline_form.instance
                services.role_unassign(learner=learner, role=old.role, source=old.source)
                formset.deleted_objects.append(old)
        for inline_form in formset.forms:
            if inline_form in formset.deleted_forms or not inline_form.has_changed():
                continue
            edited = inline_form.instance.pk is not None
            if edited:  # withdraw the old claim, make the new one
                old = RoleAssignment.objects.select_related("role").get(pk=inline_form.instance.pk)
                services.role_unassign(learner=learner, role=old.role, source=old.source)
            data = inline_form.cleaned_data
            assignment = services.role_assign(learner=learner, role=data["role"], source=data["source"])
            if edited:
                formset.changed_objects.append((assignment, inline_form.changed_data))
            else:
                formset.new_objects.append(assignment)

    @admin.action(description="Deactivate selected learners (leavers)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Learner]) -> None:
        self._apply(request, queryset, services.learner_deactivate, "deactivated")

    @admin.action(description="Reactivate selected learners", permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Learner]) -> None:
        self._apply(request, queryset, services.learner_reactivate, "reactivated")

    def _apply(self, request: HttpRequest, queryset: QuerySet[Learner], service, verb: str) -> None:
        done = 0
        for learner in queryset:
            try:
                service(learner=learner)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{learner}: {'; '.join(exc.messages)}", messages.ERROR)
        self.message_user(request, f"{done} learner(s) {verb}.", messages.SUCCESS)


class SecretAdmin(admin.ModelAdmin):
    """Keys and tokens: issued once through a service (the secret is shown in a message, never stored), then
    read-only, and revoked by an action."""

    actions = ("revoke",)  # subclasses define revoke_one(row) with their service

    def show_once(self, request: HttpRequest, what: str, secret: str) -> None:
        self.message_user(
            request,
            f"The {what} is {secret} — copy it now: it is not stored and will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected now", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for row in queryset:
            self.revoke_one(row)
        self.message_user(request, f"{queryset.count()} revoked.", messages.SUCCESS)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "can_create_learners")


@admin.register(ApiKey)
class ApiKeyAdmin(SecretAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "scope_list", "can_create_learners", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "can_create_learners")
    search_fields = ("name", "prefix")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        # A key's powers are fixed when it is issued: revoke it and issue another to change them.
        if obj is None:
            return ()
        return (
            "name",
            "prefix",
            "scopes",
            "can_create_learners",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        )

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return ApiKeyForm.Meta.fields if obj is None else self.get_readonly_fields(request, obj)

    @admin.display(description="Scopes")
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes)

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            return
        issued = services.api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            can_create_learners=form.cleaned_data["can_create_learners"],
            created_by=request.user,
        )
        obj.__dict__.update(issued.api_key.__dict__)
        self.show_once(request, "key", issued.key)

    def revoke_one(self, api_key: ApiKey) -> None:
        services.api_key_revoke(api_key=api_key)


@admin.register(LearnerToken)
class LearnerTokenAdmin(SecretAdmin):
    list_display = ("name", "learner", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    list_select_related = ("learner",)
    search_fields = ("=learner__external_id", "name", "prefix")
    autocomplete_fields = ("learner",)

    def get_fields(self, request: HttpRequest, obj: LearnerToken | None = None) -> tuple[str, ...]:
        return ("learner", "name") if obj is None else self.get_readonly_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: LearnerToken | None = None) -> tuple[str, ...]:
        return () if obj is None else ("learner", "name", "prefix", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request: HttpRequest, obj: LearnerToken, form, change: bool) -> None:
        if change:
            return
        issued = services.learner_token_create(learner=form.cleaned_data["learner"], name=form.cleaned_data["name"])
        obj.__dict__.update(issued.token.__dict__)
        self.show_once(request, "token", issued.key)

    def revoke_one(self, token: LearnerToken) -> None:
        services.learner_token_revoke(token=token)


from identity.admin import sources  # noqa: E402, F401  registers the identity sources' pages
