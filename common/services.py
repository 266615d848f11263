"""Shared write helpers (after HackSoft's ``model_update``)."""

from typing import Any, TypeVar

from django.db import models

ModelT = TypeVar("ModelT", bound=models.Model)


def model_update(*, instance: ModelT, data: dict[str, Any], fields: tuple[str, ...]) -> tuple[ModelT, bool]:
    """Set ``data`` on ``instance`` (only names in ``fields``), validate, and save only the changed columns.

    Returns the instance and whether anything changed, so an unchanged re-import writes nothing.
    """
    unknown = set(data) - set(fields)
    if unknown:
        raise TypeError(f"{type(instance).__name__}: not editable here: {', '.join(sorted(unknown))}")
    changed = [name for name, value in data.items() if getattr(instance, name) != value]
    if not changed:
        return instance, False
    for name in changed:
        setattr(instance, name, data[name])
    instance.full_clean()
    update_fields = [*changed, "updated_at"] if hasattr(instance, "updated_at") else changed
    instance.save(update_fields=update_fields)
    return instance, True


def model_create(*, model: type[ModelT], data: dict[str, Any], fields: tuple[str, ...]) -> ModelT:
    unknown = set(data) - set(fields)
    if unknown:
        raise TypeError(f"{model.__name__}: not settable here: {', '.join(sorted(unknown))}")
    instance = model(**data)
    instance.full_clean()
    instance.save()
    return instance
