from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    name = "playbooks"
    verbose_name = "Playbooks and content"

    def ready(self) -> None:
        # The identity sync reports the attributes published conditions read and a source's people lack; identity
        # sits below playbooks, so playbooks hands it the check rather than identity importing upwards.
        from identity.services.sync import SYNC_CHECKS, missing_attributes_check
        from playbooks.selectors import published_attribute_uses

        if not any(getattr(check, "uses", None) is published_attribute_uses for check in SYNC_CHECKS):
            check = missing_attributes_check(published_attribute_uses)
            check.uses = published_attribute_uses  # type: ignore[attr-defined]
            SYNC_CHECKS.append(check)
