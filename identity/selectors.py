"""Reads of learners and roles."""

from django.db.models import Count, Prefetch, QuerySet

from identity.models import Learner, Role, RoleAssignment


def learner_get(*, external_id: str) -> Learner | None:
    return Learner.objects.filter(external_id=external_id).first()


def learner_list() -> QuerySet[Learner]:
    """Learners with their role assignments prefetched, for lists that show roles (no N+1)."""
    assignments = RoleAssignment.objects.select_related("role").order_by("created_at", "pk")
    return Learner.objects.prefetch_related(Prefetch("role_assignments", queryset=assignments))


def learner_role_slugs(*, learner: Learner) -> list[str]:
    """The learner's roles, oldest assignment first (the first is the primary ``role`` in conditions).

    Uses prefetched assignments when the learner came from ``learner_list``.
    """
    slugs: list[str] = []
    for assignment in learner.role_assignments.all():
        if assignment.role.slug not in slugs:
            slugs.append(assignment.role.slug)
    return slugs


def role_list_with_learner_counts() -> QuerySet[Role]:
    return Role.objects.annotate(learner_count=Count("assignments__learner", distinct=True))


def learner_of_caller(user: object) -> Learner | None:
    """The learner an authenticated caller is: a learner token's owner, or the learner linked to a login."""
    from identity.authentication import LearnerClient

    if isinstance(user, LearnerClient):
        return user.learner
    if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) is not None:
        return Learner.objects.filter(user=user, is_active=True).first()
    return None
