from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OnboardingConfig(AppConfig):
    default = True  # this module also holds the admin's config, which INSTALLED_APPS names on its own
    name = "onboarding"
    verbose_name = "Onboarding platform"


class OnboardingAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the product's site (onboarding/admin_site.py)."""

    default = False
    default_site = "onboarding.admin_site.OnboardingAdminSite"
