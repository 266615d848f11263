"""The playbook map in the admin: a version's steps, branch options, triggers and waits drawn as an SVG, with how
many learners stand at each step and took each option.

The counts read enrolments and module progress here; which option or trigger each learner went through is in the
decision log, a table of the app above this one, so the admin registered there adds those rows (``map_rows``).
"""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from playbooks.engine.map_layout import playbook_diagram
from playbooks.engine.playbook_map import counts_from_rows
from playbooks.models import (
    Enrollment,
    EnrollmentStatus,
    ModuleProgress,
    Playbook,
    PlaybookVersion,
    ProgressStatus,
    VersionStatus,
)
from playbooks.selectors import version_spec


def version_position_rows(*, version: PlaybookVersion) -> dict[str, Any]:
    """Where the learners on ``version`` stand, in three aggregate queries: active learners per current step,
    learners who completed each module, learners who finished."""
    enrollments = Enrollment.objects.filter(version=version).order_by()  # no default ordering in the GROUP BY
    at_step = enrollments.filter(status=EnrollmentStatus.ACTIVE).values("current_step").annotate(n=Count("pk"))
    done = (
        ModuleProgress.objects.filter(enrollment__version=version, status=ProgressStatus.COMPLETED)
        .order_by()
        .values("module__slug")
        .annotate(n=Count("enrollment_id", distinct=True))
    )
    return {
        "at_step": {row["current_step"]: row["n"] for row in at_step},
        "completed_modules": {row["module__slug"]: row["n"] for row in done},
        "completed": enrollments.filter(status=EnrollmentStatus.COMPLETED).count(),
    }


def map_version_of(playbook: Playbook) -> PlaybookVersion | None:
    """The version a playbook's map shows: the published one, else the newest (from prefetched versions)."""
    versions = sorted(playbook.versions.all(), key=lambda v: v.number, reverse=True)
    return next((v for v in versions if v.status == VersionStatus.PUBLISHED), versions[0] if versions else None)


class PlaybookMapLinkMixin:
    """The playbook list's Map column."""

    @admin.display(description="Map")
    def map_link(self, playbook: Playbook) -> str:
        version = map_version_of(playbook)
        if version is None:
            return "-"
        url = reverse("admin:playbooks_playbookversion_map", args=[version.pk])
        return format_html("<a href='{}'>Map of v{}</a>", url, version.number)


class VersionMapMixin:
    """A version admin's map page (``map_view``) and the rows its counts come from (``map_rows``)."""

    def map_rows(self, version: PlaybookVersion) -> dict[str, Any]:
        """The aggregates ``counts_from_rows`` takes; the decision log's are added by the admin that can read it."""
        return {**version_position_rows(version=version), "branch_rules": {}, "trigger_rules": {}, "wait_rules": {}}

    def map_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(PlaybookVersion.objects.select_related("playbook"), pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        spec = version_spec(version=version)
        # Learners' progress is behind the enrolment permission, as on the compliance page: without it, no counts.
        counts = None
        if request.user.has_perm("playbooks.view_enrollment"):
            counts = counts_from_rows(spec, **self.map_rows(version))
        others = PlaybookVersion.objects.filter(playbook=version.playbook).exclude(pk=version.pk).order_by("-number")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "version": version,
            "others": others,
            "counts": counts,
            "active": sum(counts.at_step.values()) + counts.elsewhere if counts else 0,
            "diagram": playbook_diagram(spec, counts=counts),
            "title": f"Map of {version}",
        }
        return TemplateResponse(request, "admin/playbooks/map.html", context)
