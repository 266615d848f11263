"""Writes to the content library (playbooks arrive with their own services)."""

from typing import Any

from common.services import model_create, model_update
from playbooks.models import ContentModule

MODULE_FIELDS = ("slug", "title", "kind", "url", "body", "minutes", "tags", "is_active")


def module_create(*, slug: str, title: str, **fields: Any) -> ContentModule:
    return model_create(model=ContentModule, data={"slug": slug, "title": title, **fields}, fields=MODULE_FIELDS)


def module_update(*, module: ContentModule, data: dict[str, Any]) -> ContentModule:
    return model_update(instance=module, data=data, fields=MODULE_FIELDS)[0]


def module_upsert(*, slug: str, **fields: Any) -> tuple[ContentModule, bool]:
    """Create or update the module with this slug. Returns it and whether anything was written."""
    module = ContentModule.objects.filter(slug=slug).first()
    if module is None:
        return module_create(slug=slug, **fields), True
    return model_update(instance=module, data=fields, fields=MODULE_FIELDS)
