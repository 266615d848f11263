"""The admin site: the product's own sections first, in the order an admin works through them (content, people,
what happened, how it performs, what was sent), then the framework's (schedules, lockouts, users)."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse

from identity.selectors import learner_of_caller

APP_ORDER = ("playbooks", "identity", "scim", "signals_app", "insights", "delivery")


class OnboardingAdminSite(admin.AdminSite):
    site_header = "Onboarding platform"
    site_title = "Onboarding admin"
    index_title = "Playbooks, learners and content"
    # "View site": / is the learner page, a 404 for an admin who is no learner; this page sends each to their own.
    site_url = "/admin/site/"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        rank = {label: position for position, label in enumerate(APP_ORDER)}
        apps = super().get_app_list(request, app_label)
        return sorted(apps, key=lambda app: rank.get(app["app_label"], len(rank)))  # stable: the rest A to Z

    def get_urls(self) -> list:
        return [path("site/", self.admin_view(self.site_view), name="site")] + super().get_urls()

    def site_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """The learner page for an admin who is also a learner, else the API's documentation."""
        if learner_of_caller(request.user) is not None:
            return HttpResponseRedirect(reverse("learner-home"))
        return HttpResponseRedirect(reverse("api-docs"))
