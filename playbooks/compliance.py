"""Reads for the compliance view: per playbook, which learner completed which required step, and when."""

from dataclasses import dataclass
from datetime import datetime

from playbooks.models import Enrollment, ModuleProgress, Playbook, PlaybookVersion, ProgressStatus, Step, VersionStatus


@dataclass(frozen=True)
class RequiredStep:
    key: str
    module_slug: str
    module_title: str


@dataclass(frozen=True)
class ComplianceRow:
    enrollment: Enrollment
    done: tuple[datetime | None, ...]  # per required step, in order: when its module was completed, else None

    @property
    def complete(self) -> bool:
        return all(self.done)


@dataclass(frozen=True)
class Compliance:
    playbook: Playbook
    version: PlaybookVersion | None
    steps: tuple[RequiredStep, ...]
    rows: tuple[ComplianceRow, ...]


def compliance_for_playbook(*, playbook: Playbook) -> Compliance:
    """Learners × the published (else newest) version's required steps, with completion dates: four queries,
    whatever the number of learners. A step counts as done when its module was completed in this playbook's
    enrolment, under any version (what a learner did before a version change still holds)."""
    versions = playbook.versions.order_by("-number")
    version = versions.filter(status=VersionStatus.PUBLISHED).first() or versions.first()
    rows = Step.objects.filter(version=version, required=True).select_related("module") if version else []
    steps = tuple(RequiredStep(row.step_id or row.module.slug, row.module.slug, row.module.title) for row in rows)
    enrollments = list(
        Enrollment.objects.filter(playbook=playbook).select_related("learner").order_by("learner__external_id")
    )
    finished = {
        (enrollment_id, slug): at
        for enrollment_id, slug, at in ModuleProgress.objects.filter(
            enrollment__playbook=playbook,
            module__slug__in=[step.module_slug for step in steps],
            status=ProgressStatus.COMPLETED,
        ).values_list("enrollment_id", "module__slug", "finished_at")
    }
    return Compliance(
        playbook,
        version,
        steps,
        tuple(ComplianceRow(e, tuple(finished.get((e.pk, step.module_slug)) for step in steps)) for e in enrollments),
    )
