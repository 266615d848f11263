from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery: outbox, webhooks and the delivery policy"

    def ready(self) -> None:
        from delivery.services.endpoints import webhook_endpoints_missing
        from playbooks.services.versions import PUBLISH_CHECKS

        if webhook_endpoints_missing not in PUBLISH_CHECKS:
            PUBLISH_CHECKS.append(webhook_endpoints_missing)
