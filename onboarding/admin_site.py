"""The admin site: the product's own sections first, in the order an admin works through them (content, people,
what happened, how it performs, what was sent), then the framework's (schedules, lockouts, users)."""

from django.contrib import admin
from django.http import HttpRequest

APP_ORDER = ("playbooks", "identity", "scim", "signals_app", "insights", "delivery")


class OnboardingAdminSite(admin.AdminSite):
    site_header = "Onboarding platform"
    site_title = "Onboarding admin"
    index_title = "Playbooks, learners and content"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        rank = {label: position for position, label in enumerate(APP_ORDER)}
        apps = super().get_app_list(request, app_label)
        return sorted(apps, key=lambda app: rank.get(app["app_label"], len(rank)))  # stable: the rest A to Z
