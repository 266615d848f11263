"""The admin of flag routes (registered from the app's ready(): signals_app/admin.py holds the event tables)."""

from django.contrib import admin

from signals_app.models import FlagRoute


@admin.register(FlagRoute)
class FlagRouteAdmin(admin.ModelAdmin):
    list_display = ("name", "playbook", "notify_manager", "created_at")
    list_filter = ("notify_manager", "playbook")
    search_fields = ("name",)
