"""The learners behind a dashboard number: enrolments read from the raw rows, a page at a time, with the same
meaning as the rollup they were counted in (primary role, UTC days, the decision's day for activity figures)."""

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from identity.models import RoleAssignment
from insights.models import ActivityMetric
from insights.selectors import Filters
from playbooks.models import Enrollment, EnrollmentStatus, ModuleProgress
from signals_app.models import Decision, Reminder, ReminderStatus

COHORT = {"enrolled", "completed", "ended", "module_reached", "module_completed", "module_skipped"}
ACTIVITY = {"evaluated", *ActivityMetric.values}
FIGURES = COHORT | ACTIVITY


def _days(prefix: str, filters: Filters) -> Q:
    q = Q()
    if filters.start:
        q &= Q(**{f"{prefix}__date__gte": filters.start})
    if filters.end:
        q &= Q(**{f"{prefix}__date__lte": filters.end})
    return q


def enrollments_behind(*, filters: Filters, figure: str, module: str = "", name: str = "") -> QuerySet[Enrollment]:
    primary = RoleAssignment.objects.filter(learner=OuterRef("learner")).order_by("created_at", "pk")
    enrollments = (
        Enrollment.objects.filter(playbook=filters.playbook)
        .select_related("learner", "version")
        .annotate(primary_role=Subquery(primary.values("role__slug")[:1]))
        .order_by("enrolled_at", "pk")
    )
    if filters.version is not None:
        enrollments = enrollments.filter(version=filters.version)
    if filters.role:
        enrollments = enrollments.filter(primary_role=filters.role)
    if figure in COHORT:
        return _cohort(enrollments.filter(_days("enrolled_at", filters)), figure, module)
    return enrollments.filter(Exists(_activity(filters, figure, name)))


def _cohort(enrollments: QuerySet[Enrollment], figure: str, module: str) -> QuerySet[Enrollment]:
    if figure in ("completed", "ended"):
        return enrollments.filter(
            status=EnrollmentStatus.COMPLETED if figure == "completed" else EnrollmentStatus.ENDED
        )
    if figure == "enrolled":
        return enrollments
    progress = ModuleProgress.objects.filter(enrollment=OuterRef("pk"), module__slug=module)
    if figure != "module_reached":
        progress = progress.filter(status=figure.removeprefix("module_"))
    return enrollments.filter(Exists(progress))


def _activity(filters: Filters, figure: str, name: str) -> QuerySet:
    if figure.startswith("reminder_"):
        reminders = Reminder.objects.filter(enrollment=OuterRef("pk")).filter(_days("decision__decided_at", filters))
        outcome = figure.removeprefix("reminder_")
        if outcome == ReminderStatus.SUPPRESSED:
            return reminders.filter(status=outcome, channel=name)
        if outcome == "sent":
            return reminders.filter(message__status=outcome, message__delivered_by=name)
        return reminders.filter(status=ReminderStatus.SCHEDULED, message__status=outcome, channel=name)
    decisions = Decision.objects.filter(enrollment=OuterRef("pk")).filter(_days("decided_at", filters))
    if figure == "evaluated":
        return decisions.filter(event__processed_at__isnull=False)
    kind = "trigger" if figure == ActivityMetric.TRIGGER_FIRED else "suppressed"
    return decisions.filter(kind=kind, rule__startswith=f"trigger '{name}': ")
