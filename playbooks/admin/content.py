from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from common.forms import StorableJSONField
from playbooks import selectors, services
from playbooks.models import ContentModule


@admin.register(ContentModule)
class ContentModuleAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "kind", "minutes", "tag_list", "is_active", "updated_at")
    list_filter = ("kind", "is_active")
    search_fields = ("slug", "title", "tags")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("slug", "title", "kind", "minutes", "tags", "is_active")}),
        ("Content", {"fields": ("url", "body")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ("activate", "deactivate")
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},  # Django 6's default, adopted now
        models.JSONField: {"form_class": StorableJSONField},
    }

    def get_queryset(self, request: HttpRequest) -> QuerySet[ContentModule]:
        return selectors.module_list()

    @admin.display(description="Tags")
    def tag_list(self, module: ContentModule) -> str:
        return ", ".join(module.tags) or "-"

    def save_model(self, request: HttpRequest, obj: ContentModule, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in services.MODULE_FIELDS}
        if change:
            services.module_update(module=ContentModule.objects.get(pk=obj.pk), data=data)
        else:
            obj.__dict__.update(services.module_create(**data).__dict__)

    @admin.action(description="Make selected modules available to learners", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[ContentModule]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Withdraw selected modules from learners", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[ContentModule]) -> None:
        self._set_active(request, queryset, False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[ContentModule], active: bool) -> None:
        changed = sum(services.module_upsert(slug=m.slug, is_active=active)[1] for m in queryset)
        self.message_user(request, f"{changed} module(s) updated.", messages.SUCCESS)
