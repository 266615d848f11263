"""Reads of learners, roles and identity sources."""

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Lower

from identity.models import IdentitySource, Learner, Role, RoleAssignment, SourceLink


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


# Identity sources: what the sync checks and the admin read.

CHECK_EXAMPLES = 20


def _linked_active(source: IdentitySource) -> QuerySet[Learner]:
    """Active learners this source vouches for (a live link)."""
    return Learner.objects.filter(
        is_active=True, source_links__source=source, source_links__deactivated_at__isnull=True
    )


def check_learners_without_role(*, source: IdentitySource) -> dict[str, Any]:
    """Active people of this source who hold no role at all (no playbook audience can reach them by role)."""
    learners = _linked_active(source).filter(~Exists(RoleAssignment.objects.filter(learner=OuterRef("pk"))))
    count = learners.count()
    return {
        "code": "no_role",
        "message": f"{count:,} active people of this source hold no role",
        "count": count,
        "examples": list(learners.order_by("external_id").values_list("external_id", flat=True)[:CHECK_EXAMPLES])
        if count
        else [],
    }


def check_role_disagreements(*, source: IdentitySource) -> dict[str, Any]:
    """Roles two sources disagree on: a person both vouch for holds role R from one of them, while the other, whose
    rules can give R, does not give it to them. (A source with no rule for R has no opinion on R.)"""
    others = SourceLink.objects.filter(deactivated_at__isnull=True).exclude(source=source)
    if not others.exists():  # no other source vouches for anyone: nothing to disagree on, and no join to make
        return {"code": "role_disagreement", "count": 0}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {_DISAGREEMENTS}", [source.pk, source.pk])
        (count,) = cursor.fetchone()
        if not count:
            return {"code": "role_disagreement", "count": 0}
        cursor.execute(
            f"SELECT l.external_id, r.slug, sa.name, sb.name {_DISAGREEMENTS} "
            f"ORDER BY l.external_id, r.slug LIMIT {CHECK_EXAMPLES}",
            [source.pk, source.pk],
        )
        examples = [
            f"{external_id}: {role} from {claimer}, not from {other}"
            for external_id, role, claimer, other in cursor.fetchall()
        ]
    return {
        "code": "role_disagreement",
        "message": f"{count:,} roles are given by one source and not by another that can give them",
        "count": count,
        "examples": examples,
    }


# ra: a role claimed by one source (sa), for a learner another source (sb) also vouches for, whose rules can give
# that role and do not give it to them.
_DISAGREEMENTS = """
    FROM identity_roleassignment ra
    JOIN identity_sourcelink la ON la.learner_id = ra.learner_id AND la.source_id = ra.identity_source_id
         AND la.deactivated_at IS NULL
    JOIN identity_sourcelink lb ON lb.learner_id = ra.learner_id AND lb.source_id <> ra.identity_source_id
         AND lb.deactivated_at IS NULL
    JOIN identity_learner l ON l.id = ra.learner_id AND l.is_active
    JOIN identity_role r ON r.id = ra.role_id
    JOIN identity_identitysource sa ON sa.id = ra.identity_source_id
    JOIN identity_identitysource sb ON sb.id = lb.source_id
    WHERE (ra.identity_source_id = %s OR lb.source_id = %s)
      AND EXISTS (SELECT 1 FROM identity_rolerule rr WHERE rr.source_id = lb.source_id AND rr.role_id = ra.role_id)
      AND NOT EXISTS (SELECT 1 FROM identity_roleassignment rb WHERE rb.learner_id = ra.learner_id
                      AND rb.role_id = ra.role_id AND rb.identity_source_id = lb.source_id)
"""


def check_duplicate_emails(*, source: IdentitySource) -> dict[str, Any]:
    """E-mail addresses (ignoring case) held by more than one active learner, one of them this source's.

    The shared addresses are found among all active learners first (one pass, no join), then kept when one of their
    holders is this source's: shared addresses are few, and joining every address with the source's people first
    cost 4x as much on 100,000 learners."""
    shared = dict(
        Learner.objects.filter(is_active=True)
        .exclude(email="")
        .annotate(address=Lower("email"))
        .values("address")
        .annotate(people=Count("pk"))
        .filter(people__gt=1)
        .values_list("address", "people")
    )
    mine: set[str] = set()
    addresses = sorted(shared)
    for start in range(0, len(addresses), 5_000):
        mine.update(
            _linked_active(source)
            .annotate(address=Lower("email"))
            .filter(address__in=addresses[start : start + 5_000])
            .values_list("address", flat=True)
        )
    count = len(mine)
    return {
        "code": "duplicate_email",
        "message": f"{count:,} e-mail addresses are shared by more than one active learner",
        "count": count,
        "examples": [f"{address} ({shared[address]} people)" for address in sorted(mine)[:CHECK_EXAMPLES]],
    }


def learners_lacking_attributes(*, source: IdentitySource, names: Sequence[str]) -> dict[str, tuple[int, list[str]]]:
    """For each attribute name: how many of the source's active people lack it, and the first few of them."""
    if not names:
        return {}
    learners = _linked_active(source)
    counts = learners.aggregate(
        **{f"lacking_{index}": Count("pk", filter=~Q(attributes__has_key=name)) for index, name in enumerate(names)}
    )
    result: dict[str, tuple[int, list[str]]] = {}
    for index, name in enumerate(names):
        count = counts[f"lacking_{index}"]
        examples = (
            list(
                learners.filter(~Q(attributes__has_key=name))
                .order_by("external_id")
                .values_list("external_id", flat=True)[:5]
            )
            if count
            else []
        )
        result[name] = (count, examples)
    return result


def source_links_of_learner(*, learner: Learner) -> QuerySet[SourceLink]:
    return SourceLink.objects.filter(learner=learner).select_related("source").order_by("source__name")


def role_preview(
    *, source: IdentitySource, rules: Sequence[tuple[str, str]] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Who among the source's people (as last mapped) would get which roles under ``rules`` ((when, role slug),
    default: the source's saved rules), beside the roles its rules give them now. Conditions must compile."""
    from identity.mapping import Mapper, RoleRuleSpec

    saved = list(source.role_rules.order_by("position", "pk").values_list("when", "role__slug"))
    current = Mapper(rules=[RoleRuleSpec(when, slug) for when, slug in saved])
    proposed = Mapper(rules=[RoleRuleSpec(when, slug) for when, slug in (saved if rules is None else rules)])
    links = (
        SourceLink.objects.filter(source=source, deactivated_at__isnull=True)
        .select_related("learner")
        .order_by("learner__external_id")[:limit]
    )
    rows = []
    for link in links:
        mapped = link.mapped or {}
        attributes, groups = mapped.get("attributes") or {}, mapped.get("groups") or []
        rows.append(
            {
                "learner": link.learner.external_id,
                "display_name": link.learner.display_name,
                "groups": groups,
                "attributes": attributes,
                "now": list(current.roles_for(attributes, groups)),
                "would": list(proposed.roles_for(attributes, groups)),
            }
        )
    return rows
