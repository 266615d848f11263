"""Reads of the content library."""

from django.db.models import QuerySet

from playbooks.models import ContentModule


def module_list(*, active_only: bool = False) -> QuerySet[ContentModule]:
    modules = ContentModule.objects.all()
    return modules.active() if active_only else modules


def module_get(*, slug: str) -> ContentModule | None:
    return ContentModule.objects.filter(slug=slug).first()
