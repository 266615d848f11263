from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity: learners and roles"

    def ready(self) -> None:
        from identity import schema  # noqa: F401  registers the OpenAPI descriptions of our auth schemes
