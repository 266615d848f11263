"""Reads in the playbooks app: the content library, versions as specs, learners' next modules."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.db.models.fields.json import KT

from conditions.compiler import referenced_keys
from identity.models import Learner, RoleAssignment
from playbooks.engine.blocks import Expansion, Unavailable, expand_includes
from playbooks.engine.document import BLOCK_KEYS, PLAYBOOK_YAML, load_yaml, spec_from_document
from playbooks.engine.journey import CompiledPlaybook, LearnerFacts
from playbooks.engine.shapes import did_you_mean
from playbooks.engine.spec import (
    ActionSpec,
    AudienceSpec,
    BranchOption,
    DueSpec,
    IncludeSpec,
    ModuleSpec,
    ParameterSpec,
    PlaybookSpec,
    PolicySpec,
    SequenceStep,
    SignalSpec,
    StepSpec,
    TriggerSpec,
)
from playbooks.models import (
    Block,
    BlockVersion,
    ContentModule,
    Enrollment,
    EnrollmentStatus,
    ModuleProgress,
    Playbook,
    PlaybookVersion,
    ProgressStatus,
    Step,
    VersionStatus,
)
from playbooks.models import (
    BranchOption as BranchOptionRow,
)


def module_list(*, active_only: bool = False) -> QuerySet[ContentModule]:
    modules = ContentModule.objects.all()
    return modules.active() if active_only else modules


def module_get(*, slug: str) -> ContentModule | None:
    return ContentModule.objects.filter(slug=slug).first()


def module_slugs() -> set[str]:
    return set(ContentModule.objects.values_list("slug", flat=True))


def version_get(*, slug: str, number: int | None = None) -> PlaybookVersion | None:
    """A playbook's version ``number``, or its published version, or else its newest."""
    versions = PlaybookVersion.objects.select_related("playbook").filter(playbook__slug=slug)
    if number is not None:
        return versions.filter(number=number).first()
    return versions.filter(status=VersionStatus.PUBLISHED).first() or versions.order_by("-number").first()


def version_published(*, playbook: Playbook) -> PlaybookVersion | None:
    return playbook.versions.filter(status=VersionStatus.PUBLISHED).first()


def version_spec(*, version: PlaybookVersion) -> PlaybookSpec:
    """The version as the engine and the file format see it, included blocks expanded (six queries whatever its
    size, and one per included block)."""
    return version_expansion(version=version).spec


def version_expansion(*, version: PlaybookVersion) -> Expansion:
    """The version with its included blocks expanded, and any problem doing so (none for a version saved through
    the services: blocks are checked when included, and a pinned block version never changes)."""
    return expand_includes(_version_own_spec(version), block_fetch)


def block_fetch(slug: str, number: int) -> PlaybookSpec | Unavailable:
    """A block version's file as written, for ``expand_includes``; why not, with the versions there are."""
    row = BlockVersion.objects.filter(block__slug=slug, number=number).values_list("pk", "text").first()
    if row is not None:
        return block_file_spec(*row)
    numbers = list(BlockVersion.objects.filter(block__slug=slug).order_by("number").values_list("number", flat=True))
    if numbers:
        return Unavailable("version", f"block '{slug}' has no version {number}; its versions: {_listed(numbers)}")
    hint = did_you_mean(slug, Block.objects.values_list("slug", flat=True)) or "; create it under Reusable blocks"
    return Unavailable("block", f"no block '{slug}'{hint}")


def _listed(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[-10:])) + (" (the last ten)" if len(numbers) > 10 else "")


@lru_cache(maxsize=256)
def block_file_spec(pk: int, text: str) -> PlaybookSpec:
    """A saved block version's file, parsed once per process (it never changes; the text is part of the key)."""
    return spec_from_document(load_yaml(text, PLAYBOOK_YAML), keys=BLOCK_KEYS)


def _version_own_spec(version: PlaybookVersion) -> PlaybookSpec:
    """The version's own rows as a spec: included blocks as ``include`` entries and step placeholders."""
    version = (
        PlaybookVersion.objects.select_related("playbook")
        .prefetch_related(
            Prefetch("includes__block_version", BlockVersion.objects.select_related("block")),
            "audience_roles",
            "module_entries__module",
            "signals",
            "triggers",
            Prefetch(
                "steps",
                Step.objects.select_related("module").prefetch_related(
                    Prefetch("options", BranchOptionRow.objects.select_related("module").order_by("position"))
                ),
            ),
        )
        .get(pk=version.pk)
    )
    return PlaybookSpec(
        slug=version.playbook.slug,
        name=version.playbook.name,
        description=version.playbook.description,
        audience=AudienceSpec(
            roles=tuple(sorted(role.slug for role in version.audience_roles.all())),
            when=version.audience_when or None,
            role_tags=tuple((role, tuple(tags)) for role, tags in version.role_tags),
        ),
        modules=tuple(_module_spec(entry.module) for entry in version.module_entries.all()),
        signals=tuple(
            SignalSpec(
                s.name,
                s.event,
                s.aggregate,
                s.property or None,
                s.window or None,
                s.where or None,
                sequence=tuple(SequenceStep(step["event"], step["where"] or None) for step in s.sequence or ()),
                within=s.within or None,
            )
            for s in version.signals.all()
        ),
        steps=tuple(_step_spec(step) for step in version.steps.all()),
        triggers=tuple(
            TriggerSpec(
                t.name,
                t.when,
                tuple(_action_spec(a) for a in t.actions),
                t.limit_per_learner,
                limit_per=t.limit_per or None,
                cooldown=t.cooldown or None,
                explain=t.explain or None,
            )
            for t in version.triggers.all()
        ),
        policy=PolicySpec(
            frequency_cap_max=version.frequency_cap_max,
            frequency_cap_per=version.frequency_cap_per or None,
            quiet_hours_start=version.quiet_hours_start or None,
            quiet_hours_end=version.quiet_hours_end or None,
        ),
        tests=tuple(version.tests),
        priority=version.priority,
        on_audience_exit=version.on_audience_exit,
        parameters=tuple(ParameterSpec(name, default) for name, default in version.parameters),
        includes=tuple(
            IncludeSpec(entry.block_version.block.slug, entry.block_version.number) for entry in version.includes.all()
        ),
    )


def _module_spec(module: ContentModule) -> ModuleSpec:
    return ModuleSpec(
        module.slug, module.title, module.kind, module.url, module.body, module.minutes, tuple(module.tags)
    )


def _step_spec(step: Step) -> StepSpec:
    if step.block:
        return StepSpec(block=step.block)
    options = list(step.options.all())
    due = DueSpec(step.due_after, step.due_from or None) if step.due_after else None
    schedule = {"due": due, "readiness": step.readiness}
    if step.tags:
        return StepSpec(id=step.step_id or None, tags=tuple(step.tags), **schedule)
    if step.module_id is not None and not options:
        return StepSpec(id=step.step_id or None, module=step.module.slug, required=step.required, **schedule)
    return StepSpec(id=step.step_id or None, **schedule, branch=step_branch(step=step))


def step_branch(*, step: Step) -> tuple[BranchOption, ...]:
    """A branch point's options as the engine sees them (from ``options`` prefetched with their modules)."""
    return tuple(
        BranchOption(
            when=o.when or None,
            module=o.module.slug if o.module_id else None,
            goto=o.goto or None,
            explain=o.explain or None,
        )
        for o in step.options.all()
    )


def _action_spec(action: dict) -> ActionSpec:
    ((kind, argument),) = action.items()
    return ActionSpec(kind, None if kind == "complete" and argument is True else argument)


@lru_cache(maxsize=512)
def _compiled(version_pk: int, updated_at: str) -> CompiledPlaybook:
    return CompiledPlaybook(version_spec(version=PlaybookVersion.objects.get(pk=version_pk)))


@lru_cache(maxsize=512)
def _with_withdrawn(version_pk: int, updated_at: str, withdrawn: frozenset[str]) -> CompiledPlaybook:
    return CompiledPlaybook(_compiled(version_pk, updated_at).spec, withdrawn=withdrawn)


def compiled_version(*, version: PlaybookVersion) -> CompiledPlaybook:
    """The version's conditions compiled once per process; a draft's edits change ``updated_at`` and the key.

    A version with steps picking by tags also needs the library's withdrawn (inactive) modules, which change
    without the version: one more query for those versions only."""
    compiled = _compiled(version.pk, version.updated_at.isoformat())
    candidates = {m.slug for s in compiled.spec.steps if s.by_tags for m in compiled.spec.tag_candidates(s.tags)}
    if not candidates:
        return compiled
    withdrawn = ContentModule.objects.filter(slug__in=candidates, is_active=False).values_list("slug", flat=True)
    return _with_withdrawn(version.pk, version.updated_at.isoformat(), frozenset(withdrawn))


@dataclass(frozen=True)
class NextModule:
    status: str  # active | completed | not_enrolled
    module: ContentModule | None = None
    enrollment: Enrollment | None = None
    # With ``others=True``: the learner's other active enrolments, in the order they are served.
    others: tuple["NextModule", ...] = ()
    # The slugs of the optional modules this enrolment has unlocked (``unlock_module``), in the order unlocked.
    unlocked: tuple[str, ...] = ()


# The next-module read is the platform's hottest query. Written as SQL rather than built by the ORM: compiling the
# equivalent queryset took as long as running it (cProfile), and the endpoint's target is 0.7x a trivial one.
# A learner's active enrolments come first, the highest priority first (the published version's: the one an admin
# last set), then the oldest; a completed one is the answer only when none is active. The published version is
# found through the partial unique index on (playbook) WHERE status = 'published'.
_NEXT_MODULE_SQL = """
    SELECT e.id, e.status, e.current_step, e.current_reason, e.steps_done, e.steps_total, e.enrolled_at,
           e.playbook_id, p.slug, p.name, m.id, m.slug, m.title, m.kind, m.url, m.minutes, m.body,
           e.state -> 'unlocked'
    FROM playbooks_enrollment e
    JOIN playbooks_playbook p ON p.id = e.playbook_id
    LEFT JOIN playbooks_playbookversion v ON v.playbook_id = e.playbook_id AND v.status = 'published'
    LEFT JOIN playbooks_contentmodule m ON m.id = e.current_module_id
    WHERE e.learner_id = %s AND e.status IN ('active', 'completed')
    ORDER BY e.status, COALESCE(v.priority, 0) DESC, e.enrolled_at, e.id
"""
_FIRST = _NEXT_MODULE_SQL + " LIMIT 1"


def next_module_for_learner(*, learner: Learner, others: bool = False) -> NextModule:
    """The learner's next module across their playbooks: the highest-priority active enrolment first (ties: the
    oldest). With ``others``, the answer lists the learner's other active enrolments too. One query either way."""
    with connection.cursor() as cursor:
        # With the others, every row: at most one per playbook (one enrolment per learner and playbook).
        cursor.execute(_NEXT_MODULE_SQL if others else _FIRST, [learner.pk])
        rows = cursor.fetchall() if others else [row for row in [cursor.fetchone()] if row is not None]
    if not rows:
        return NextModule("not_enrolled")
    first = _next_module(rows[0], learner)
    if len(rows) == 1:
        return first
    return replace(
        first, others=tuple(_next_module(row, learner) for row in rows[1:] if row[1] == EnrollmentStatus.ACTIVE)
    )


def _next_module(row: tuple, learner: Learner) -> NextModule:
    (
        pk,
        status,
        step,
        reason,
        done,
        total,
        enrolled_at,
        playbook_id,
        playbook_slug,
        playbook_name,
        module_id,
        slug,
        title,
        kind,
        url,
        minutes,
        body,
        unlocked,
    ) = row
    module = (
        ContentModule(id=module_id, slug=slug, title=title, kind=kind, url=url, minutes=minutes, body=body)
        if module_id is not None
        else None
    )
    enrollment = Enrollment(
        id=pk,
        learner_id=learner.pk,
        status=status,
        current_step=step,
        current_reason=_json(reason),
        steps_done=done,
        steps_total=total,
        enrolled_at=enrolled_at,
        playbook_id=playbook_id,
        current_module=module,
    )
    enrollment.playbook = Playbook(id=playbook_id, slug=playbook_slug, name=playbook_name)
    if status == EnrollmentStatus.ACTIVE:
        return NextModule("active", module, enrollment, unlocked=tuple(_json(unlocked) or ()))
    return NextModule("completed", None, enrollment)


@dataclass(frozen=True)
class OptionalModule:
    playbook: Playbook
    module: ContentModule


def optional_modules(*, answer: NextModule) -> list[OptionalModule]:
    """The optional modules the learner's active enrolments have unlocked and they have neither completed nor
    skipped (nor are being served as a step right now), in the order served and unlocked. No query when nothing is
    unlocked; two otherwise."""
    served = [each for each in (answer, *answer.others) if each.unlocked]
    if not served:
        return []
    slugs = {slug for each in served for slug in each.unlocked}
    modules = {module.slug: module for module in ContentModule.objects.active().filter(slug__in=slugs)}
    done = set(
        ModuleProgress.objects.filter(
            enrollment_id__in=[each.enrollment.pk for each in served],
            module__slug__in=slugs,
            status__in=[ProgressStatus.COMPLETED, ProgressStatus.SKIPPED],
        ).values_list("enrollment_id", "module__slug")
    )
    current = {each.module.slug for each in (answer, *answer.others) if each.module is not None}
    found: list[OptionalModule] = []
    for each in served:
        for slug in each.unlocked:
            if slug in modules and slug not in current and (each.enrollment.pk, slug) not in done:
                found.append(OptionalModule(each.enrollment.playbook, modules[slug]))
                current.add(slug)  # listed once, under the first playbook that unlocked it
    return found


def _json(value: object) -> dict | list:
    # PostgreSQL's driver hands JSON back decoded; SQLite's as text.
    return json.loads(value) if isinstance(value, str) else (value or {})


def versions_published() -> QuerySet[PlaybookVersion]:
    return PlaybookVersion.objects.filter(status=VersionStatus.PUBLISHED).select_related("playbook")


def published_attribute_uses() -> dict[str, list[str]]:
    """Each learner attribute the published versions' conditions read (``attributes.department`` → ``department``),
    with the versions reading it: the identity sync's check "attributes playbooks use and learners lack"."""
    uses: dict[str, list[str]] = {}
    for version in versions_published():
        spec = version_spec(version=version)
        texts = [
            spec.audience.when,
            *(option.when for step in spec.steps for option in step.branch or ()),
            *(trigger.when for trigger in spec.triggers),
        ]
        for name in sorted(frozenset().union(*(referenced_keys(text) for text in texts))):
            uses.setdefault(name, []).append(f"{spec.slug} v{version.number}")
    return uses


def learner_facts(*, learner: Learner) -> LearnerFacts:
    """Who the learner is, as conditions see it (roles oldest first: the first is ``role``)."""
    return learner_facts_many(learners=[learner])[learner.pk]


def learner_facts_many(*, learners: list[Learner]) -> dict[int, LearnerFacts]:
    """``learner_facts`` for many learners in one query."""
    roles: dict[int, list[str]] = {learner.pk: [] for learner in learners}
    assignments = RoleAssignment.objects.filter(learner_id__in=roles).order_by("created_at", "pk")
    for learner_id, slug in assignments.values_list("learner_id", "role__slug"):
        if slug not in roles[learner_id]:
            roles[learner_id].append(slug)
    return {
        learner.pk: LearnerFacts(
            learner.external_id, tuple(roles[learner.pk]), dict(learner.attributes), learner.timezone or "UTC"
        )
        for learner in learners
    }


def enrollments_for_learner(*, learner: Learner) -> QuerySet[Enrollment]:
    return Enrollment.objects.filter(learner=learner).select_related("playbook", "version", "current_module")


def learner_progress(*, learner: Learner) -> dict:
    """What the learner has completed and skipped in their current (or last) playbook, and the time spent."""
    answer = next_module_for_learner(learner=learner)
    enrollment = answer.enrollment
    if enrollment is None:
        return {
            "playbook": None,
            "status": "not_enrolled",
            "current": None,
            "completed": [],
            "skipped": [],
            "steps": {"done": 0, "total": 0},
            "time_spent_seconds": 0,
            "optional": [],
        }
    rows = list(enrollment.progress.select_related("module").order_by("finished_at", "pk"))
    return {
        "playbook": enrollment.playbook.slug,
        "status": answer.status,
        "current": answer.module.slug if answer.module else None,
        "completed": [row.module.slug for row in rows if row.status == ProgressStatus.COMPLETED],
        "skipped": [row.module.slug for row in rows if row.status == ProgressStatus.SKIPPED],
        "steps": {"done": enrollment.steps_done, "total": enrollment.steps_total},
        "time_spent_seconds": sum(row.seconds for row in rows),
        "optional": [optional.module.slug for optional in optional_modules(answer=answer)],
    }


def enrollments_of_learners(*, learner_ids: list[int]) -> QuerySet[Enrollment]:
    """The learners' current enrolments (active or completed), with their playbook and current module: one query."""
    return (
        Enrollment.objects.filter(
            learner_id__in=learner_ids, status__in=[EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED]
        )
        .select_related("playbook", "current_module")
        .order_by("learner_id", "status", "enrolled_at", "pk")
    )


@dataclass(frozen=True)
class RestingEnrollment:
    """What the worker's quiet path needs of an active enrolment, without its documents: the event types that could
    change it (None: any), and where its stored tally ends (None: it has no such bound, so it is rebuilt)."""

    pk: int
    learner_id: int
    decisive: frozenset[str] | None
    last_at: datetime | None
    mark: int | None


def resting_enrollments(*, learner_ids: Sequence[int]) -> dict[int, list[RestingEnrollment]]:
    """The learners' active enrolments, per learner, as the quiet path reads them: two keys of the tally extracted by
    the database rather than the whole state and tally decoded here."""
    rows = Enrollment.objects.filter(learner_id__in=learner_ids, status=EnrollmentStatus.ACTIVE).values_list(
        "pk", "learner_id", "decisive_kinds", KT("tally__last_at"), KT("tally__mark")
    )
    found: dict[int, list[RestingEnrollment]] = {}
    for pk, learner_id, decisive, last_at, mark in rows:
        found.setdefault(learner_id, []).append(
            RestingEnrollment(
                pk,
                learner_id,
                frozenset(decisive) if decisive is not None else None,
                datetime.fromisoformat(last_at) if last_at else None,
                int(mark) if mark else None,
            )
        )
    return found
