"""The admin site: the product's own sections first, in the order an admin works through them (content, people,
what happened, how it performs, what was sent), then the framework's (schedules, lockouts, users)."""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse

from identity.selectors import learner_of_caller

APP_ORDER = ("playbooks", "identity", "scim", "signals_app", "insights", "delivery")


class OnboardingAdminSite(admin.AdminSite):
    site_header = "Onboarding platform"
    site_title = "Onboarding admin"
    index_title = "Playbooks, learners and content"
    site_url = None  # Django's "View site" went to / and, for an admin who is no learner, to a 404: see site_link

    def each_context(self, request: HttpRequest) -> dict:
        return {**super().each_context(request), "site_link": self.site_link(request)}

    def site_link(self, request: HttpRequest) -> dict[str, str] | None:
        """The learner page for an admin who is also a learner, else the API's documentation."""
        if not request.user.is_authenticated:
            return None
        if learner_of_caller(request.user) is not None:
            return {"url": reverse("learner-home"), "label": "Your learner page"}
        return {"url": reverse("api-docs"), "label": "API documentation"}

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        rank = {label: position for position, label in enumerate(APP_ORDER)}
        apps = super().get_app_list(request, app_label)
        return sorted(apps, key=lambda app: rank.get(app["app_label"], len(rank)))  # stable: the rest A to Z
