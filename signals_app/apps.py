from django.apps import AppConfig


class SignalsAppConfig(AppConfig):
    name = "signals_app"
    verbose_name = "Behaviour events and decisions"

    def ready(self) -> None:
        from playbooks.services.versions import PUBLISH_CHECKS
        from signals_app.services.simulation import saved_journey_failures

        if saved_journey_failures not in PUBLISH_CHECKS:
            PUBLISH_CHECKS.append(saved_journey_failures)
        from signals_app import admin_flags  # noqa: F401  (registers FlagRoute's admin)
