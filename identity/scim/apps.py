from django.apps import AppConfig


class ScimConfig(AppConfig):
    name = "identity.scim"
    label = "scim"
    verbose_name = "Identity: SCIM provisioning"
