"""Playbook versions: import a file, publish a draft, start a new draft. All-or-nothing, idempotent on retry."""

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from common.errors import ApplicationError
from identity.models import Role
from identity.services import role_upsert
from playbooks import selectors
from playbooks.engine.blocks import expand_includes
from playbooks.engine.document import PLAYBOOK_YAML, SAVED_JOURNEYS_YAML, collapsed, load_yaml, spec_from_document
from playbooks.engine.journeys import saved_journey_errors
from playbooks.engine.spec import BranchOption as BranchOptionSpec
from playbooks.engine.spec import ModuleSpec, PlaybookInvalid, PlaybookSpec, SpecError
from playbooks.engine.validation import validate_spec
from playbooks.models import (
    BlockVersion,
    BranchOption,
    ContentModule,
    Enrollment,
    EnrollmentStatus,
    Playbook,
    PlaybookVersion,
    SignalDefinition,
    Step,
    Trigger,
    VersionInclude,
    VersionModule,
    VersionStatus,
)
from playbooks.services.modules import module_upsert

logger = logging.getLogger(__name__)

# Checks that publishing runs after validation, each returning the problems it found. Apps above this one add
# theirs when they load (signals_app: a version's saved journeys must pass in the simulator), so that this app does
# not import them.
PUBLISH_CHECKS: list[Callable[[PlaybookVersion], list[SpecError]]] = []


@dataclass(frozen=True)
class ImportResult:
    version: PlaybookVersion
    changed: bool  # False when the file equals what is already there (a retried import)


def playbook_parse(*, text: str) -> PlaybookSpec:
    """Parse and validate a playbook file against the content library and the blocks it includes; raises
    PlaybookInvalid with every error. The spec returned has its blocks expanded."""
    expansion = expand_includes(spec_from_document(load_yaml(text, PLAYBOOK_YAML)), selectors.block_fetch)
    errors = expansion.errors or expansion.relabel(
        validate_spec(expansion.spec, library_modules=selectors.module_slugs())
    )
    if errors:
        raise PlaybookInvalid(errors)
    return expansion.spec


@transaction.atomic(durable=True)
def playbook_import(
    *, text: str, publish: bool = False, migrate: bool = False, user: AbstractBaseUser | None = None
) -> ImportResult:
    """Import a playbook file as the playbook's draft (and publish it if asked). Nothing is written on any error.

    Importing what is already the published version (or the draft) again writes nothing.
    """
    result = playbook_stage(text=text)
    if publish and result.version.status == VersionStatus.DRAFT:
        return ImportResult(_publish(result.version, user=user, migrate=migrate), True)
    return result


@transaction.atomic
def playbook_stage(*, text: str) -> ImportResult:
    """The version holding this file: the published version or the draft when equal to it, else the draft
    (created if needed) rewritten. In the caller's transaction: the simulator stages a file and throws it away."""
    spec = playbook_parse(text=text)
    playbook = _playbook_upsert(spec)
    draft = playbook.versions.filter(status=VersionStatus.DRAFT).first()
    published = selectors.version_published(playbook=playbook)
    for existing in (draft, published):
        if existing is not None and selectors.version_spec(version=existing) == spec:
            return ImportResult(existing, False)
    if draft is None:
        draft = _version_create(playbook)
    return ImportResult(version_write_spec(version=draft, spec=spec), True)


def version_write_spec(*, version: PlaybookVersion, spec: PlaybookSpec) -> PlaybookVersion:
    """Replace a draft's content by ``spec`` (modules are created or updated in the library by slug). Included
    blocks are stored as what pins them, not copied: the rows hold the playbook's own content."""
    _require_draft(version)
    spec = collapsed(spec)
    for model in (VersionModule, Step, Trigger, SignalDefinition, VersionInclude):
        model.objects.filter(version=version).delete()
    VersionInclude.objects.bulk_create(
        VersionInclude(
            version=version,
            position=i,
            block_version=BlockVersion.objects.get(block__slug=include.block, number=include.version),
        )
        for i, include in enumerate(spec.includes)
    )
    modules = {m.slug: declared_module_write(m, f"modules[{i}]") for i, m in enumerate(spec.modules)}
    modules.update({m.slug: m for m in ContentModule.objects.filter(slug__in=spec.path_modules() - set(modules))})
    VersionModule.objects.bulk_create(
        VersionModule(version=version, module=modules[m.slug], position=i) for i, m in enumerate(spec.modules)
    )
    for position, step in enumerate(spec.steps):
        row = Step.objects.create(
            version=version,
            position=position,
            step_id=step.id or "",
            module=modules[step.module] if step.module else None,
            required=step.required,
            tags=list(step.tags),
            due_after=step.due.after if step.due else "",
            due_from=(step.due.from_ or "") if step.due else "",
            readiness=step.readiness,
            block=step.block or "",
        )
        BranchOption.objects.bulk_create(_branch_option_rows(row, step.branch or (), modules))
    Trigger.objects.bulk_create(
        Trigger(
            version=version,
            position=i,
            name=t.name,
            when=t.when,
            limit_per_learner=t.limit_per_learner,
            limit_per=t.limit_per or "",
            cooldown=t.cooldown or "",
            explain=t.explain or "",
            actions=[{a.kind: True if a.argument is None else a.argument} for a in t.then],
        )
        for i, t in enumerate(spec.triggers)
    )
    SignalDefinition.objects.bulk_create(
        SignalDefinition(
            version=version,
            position=i,
            name=s.name,
            event=s.event,
            aggregate=s.aggregate,
            property=s.property or "",
            window=s.window or "",
            where=s.where or "",
            sequence=[{"event": step.event, "where": step.where or ""} for step in s.sequence],
            within=s.within or "",
        )
        for i, s in enumerate(spec.signals)
    )
    version.audience_roles.set([_role(slug) for slug in spec.audience.roles])
    version.audience_when = spec.audience.when or ""
    version.role_tags = [[role, list(tags)] for role, tags in spec.audience.role_tags]
    version.on_audience_exit = spec.on_audience_exit
    version.priority = spec.priority
    version.frequency_cap_max = spec.policy.frequency_cap_max
    version.frequency_cap_per = spec.policy.frequency_cap_per or ""
    version.quiet_hours_start = spec.policy.quiet_hours_start or ""
    version.quiet_hours_end = spec.policy.quiet_hours_end or ""
    version.tests = list(spec.tests)
    version.parameters = [[parameter.name, parameter.default] for parameter in spec.parameters]
    version.save()
    return version


def version_errors(*, version: PlaybookVersion) -> list[SpecError]:
    """What stands between this version and publishing (empty when it can be published)."""
    expansion = selectors.version_expansion(version=version)
    return expansion.errors + expansion.relabel(validate_spec(expansion.spec, library_modules=selectors.module_slugs()))


@transaction.atomic(durable=True)
def playbook_publish(
    *, version: PlaybookVersion, user: AbstractBaseUser | None = None, migrate: bool = False
) -> PlaybookVersion:
    """Publish a draft: the published version before it is archived; with ``migrate``, its learners move to this
    one at their next step boundary. Publishing the published version again is a no-op."""
    version = PlaybookVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == VersionStatus.PUBLISHED:
        return version
    return _publish(version, user=user, migrate=migrate)


def _publish(version: PlaybookVersion, *, user: AbstractBaseUser | None, migrate: bool) -> PlaybookVersion:
    _require_draft(version)
    errors = version_errors(version=version)
    for check in [] if errors else PUBLISH_CHECKS:
        errors.extend(check(version))
    if errors:
        raise PlaybookInvalid(errors)
    previous = selectors.version_published(playbook=version.playbook)
    if previous is not None:
        previous.status = VersionStatus.ARCHIVED
        previous.save(update_fields=["status", "updated_at"])
    version.status = VersionStatus.PUBLISHED
    version.published_at = timezone.now()
    version.published_by = user if user is not None and user.is_authenticated else None
    version.save(update_fields=["status", "published_at", "published_by", "updated_at"])
    if migrate:
        moving = Enrollment.objects.filter(playbook=version.playbook, status=EnrollmentStatus.ACTIVE)
        count = moving.exclude(version=version).update(migrate_to=version)
        logger.info("playbooks.publish.migrating", extra={"version": version.pk, "enrollments": count})
    return version


@transaction.atomic(durable=True)
def draft_create(*, playbook: Playbook) -> PlaybookVersion:
    """A new draft holding a copy of the published (or newest) version; returns the existing draft if there is one."""
    draft = playbook.versions.filter(status=VersionStatus.DRAFT).first()
    if draft is not None:
        return draft
    source = selectors.version_published(playbook=playbook) or playbook.versions.order_by("-number").first()
    draft = _version_create(playbook)
    if source is not None:
        version_write_spec(version=draft, spec=selectors.version_spec(version=source))
    return draft


def _version_create(playbook: Playbook) -> PlaybookVersion:
    number = (playbook.versions.aggregate(highest=Max("number"))["highest"] or 0) + 1
    return PlaybookVersion.objects.create(playbook=playbook, number=number)


def _playbook_upsert(spec: PlaybookSpec) -> Playbook:
    playbook, created = Playbook.objects.get_or_create(
        slug=spec.slug, defaults={"name": spec.name, "description": spec.description}
    )
    if not created and (playbook.name, playbook.description) != (spec.name, spec.description):
        playbook.name, playbook.description = spec.name, spec.description
        playbook.save(update_fields=["name", "description", "updated_at"])
    return playbook


def _require_draft(version: PlaybookVersion) -> None:
    if not version.is_editable:
        raise ApplicationError(
            "version_not_editable",
            f"{version} is {version.get_status_display().lower()} and cannot change; start a new draft instead.",
            status_code=409,
        )


def _role(slug: str) -> Role:
    existing = Role.objects.filter(slug=slug).first()
    return existing or role_upsert(slug=slug, name=slug.replace("_", " ").capitalize())


def declared_module_write(module: ModuleSpec, path: str) -> ContentModule:
    """Create or update a module a playbook (or a block) declares. The library's own checks (a field's length, a
    URL's form) are reported at the module's path, as validation's are, rather than escaping as a server error."""
    try:
        return module_upsert(**_module_fields(module))[0]
    except ValidationError as invalid:
        raise PlaybookInvalid(
            [
                SpecError(f"{path}.{field}" if field != "__all__" else path, message)
                for field, messages in invalid.message_dict.items()
                for message in messages
            ]
        ) from invalid


def _module_fields(module: ModuleSpec) -> dict:
    return {
        "slug": module.slug,
        "title": module.title,
        "kind": module.kind,
        "url": module.url,
        "body": module.body,
        "minutes": module.minutes,
        "tags": list(module.tags),
    }


def step_branch_set(*, step: Step, options: tuple[BranchOptionSpec, ...]) -> Step:
    """Replace a draft's branch point's options (checked by the caller with validate_branch), in the caller's
    transaction: the admin writes a version's steps and their options together."""
    _require_draft(step.version)
    modules = ContentModule.objects.in_bulk([o.module for o in options if o.module], field_name="slug")
    BranchOption.objects.filter(step=step).delete()
    BranchOption.objects.bulk_create(_branch_option_rows(step, options, modules))
    return step


def _branch_option_rows(
    step: Step, options: Iterable[BranchOptionSpec], modules: dict[str, ContentModule]
) -> list[BranchOption]:
    """A branch point's options as rows, in order (``modules``: the library's modules by slug)."""
    return [
        BranchOption(
            step=step,
            position=i,
            when=o.when or "",
            module=modules.get(o.module),
            goto=o.goto or "",
            explain=o.explain or "",
        )
        for i, o in enumerate(options)
    ]


def version_tests_errors(*, version: PlaybookVersion, tests: list) -> list[SpecError]:
    """What is wrong with ``tests`` as the version's saved journeys, by path (checked against the version)."""
    return _tests_size_errors(tests) or saved_journey_errors(
        replace(selectors.version_spec(version=version), tests=tuple(tests))
    )


def version_tests_set(*, version: PlaybookVersion, tests: list) -> PlaybookVersion:
    """Replace a draft's saved journeys; refused (PlaybookInvalid, by path) if one of them is malformed."""
    _require_draft(version)
    errors = version_tests_errors(version=version, tests=tests)
    if errors:
        raise PlaybookInvalid(errors)
    version.tests = list(tests)
    version.save(update_fields=["tests", "updated_at"])
    return version


def _tests_size_errors(tests: list) -> list[SpecError]:
    """Saved journeys are exported in the playbook file, so they are held to its size (measured as compact JSON,
    as stored: journeys added one by one from the Simulate page never went through a size check as text)."""
    size = len(json.dumps(tests, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size <= SAVED_JOURNEYS_YAML.max_bytes:
        return []
    return [
        SpecError(
            "tests",
            f"the saved journeys take {size:,} bytes; at most {SAVED_JOURNEYS_YAML.max_bytes:,} (they are part of the "
            "playbook file): keep shorter journeys as tests and run long ones from the Simulate page",
        )
    ]
