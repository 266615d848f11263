from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OnboardingConfig(AppConfig):
    default = True  # this module also holds the admin's config, which INSTALLED_APPS names on its own
    name = "onboarding"
    verbose_name = "Onboarding platform"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from common.postgresql import use_c_timestamp_parser

        connection_created.connect(use_c_timestamp_parser, dispatch_uid="use_c_timestamp_parser")


class OnboardingAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the product's site (onboarding/admin_site.py)."""

    default = False
    default_site = "onboarding.admin_site.OnboardingAdminSite"
