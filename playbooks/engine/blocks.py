"""Reusable blocks: named, versioned sets of signals, steps and triggers that a playbook includes by slug and pins by
version (``include: [{block: compliance-basics, version: 2}]``), placing the block's steps with ``- block: slug``.

Expansion is pure: the caller fetches block files (from the database, or a test's dictionary). A pinned block
version never changes, so a playbook version's expansion never changes either: a new block version reaches a
playbook only through a new playbook version that pins it.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from playbooks.engine.shapes import did_you_mean
from playbooks.engine.spec import PlaybookSpec, SignalSpec, SpecError, StepSpec, TriggerSpec


@dataclass(frozen=True)
class Unavailable:
    """Why an included block cannot be had: ``field`` is ``block`` (no such block) or ``version`` (no such version)."""

    field: str
    message: str


# A block's file as written (its own includes not yet expanded), or why it cannot be had.
BlockFetch = Callable[[str, int], "PlaybookSpec | Unavailable"]
MAX_INCLUDE_DEPTH = 8  # blocks including blocks: deeper than any real library, shallow enough to explain


@dataclass
class Expansion:
    """A spec with its blocks expanded, the problems found doing it, and where each expanded step and trigger is
    written (``steps[2]`` or ``steps[2] → block 'basics' v1: steps[0]``) so that later errors name the file's place."""

    spec: PlaybookSpec
    errors: list[SpecError] = field(default_factory=list)
    step_paths: list[str] = field(default_factory=list)
    trigger_paths: list[str] = field(default_factory=list)

    def relabel(self, errors: list[SpecError]) -> list[SpecError]:
        """``errors`` found on the expanded spec, with step and trigger indices as the files number them."""
        if not self.spec.includes:
            return errors
        return [replace(error, path=_PLACE.sub(self._place, error.path)) for error in errors]

    def _place(self, match: re.Match) -> str:
        paths = self.step_paths if match.group(1) == "steps" else self.trigger_paths
        index = int(match.group(2))
        return paths[index] if index < len(paths) else match.group(0)


_PLACE = re.compile(r"^(steps|triggers)\[(\d+)\]")


@dataclass
class _Part:
    """What one included block brings, expanded: its own content and that of the blocks it includes."""

    signals: list[SignalSpec]
    steps: list[tuple[StepSpec, str]]  # with the path each step has in its file
    triggers: list[tuple[TriggerSpec, str]]


def expand_includes(spec: PlaybookSpec, fetch: BlockFetch) -> Expansion:
    """``spec`` with every included block's signals and triggers added and its steps put in its placeholder's
    place, each marked with the block it came from (``origin``), so that export writes the include again."""
    expansion = Expansion(spec)
    if not spec.includes and not any(step.block is not None for step in spec.steps):
        return expansion  # nothing to expand, and nothing to relabel
    part = _expand(spec, fetch, chain=(), label="", errors=expansion.errors)
    expansion.spec = replace(
        spec,
        signals=tuple(part.signals),
        steps=tuple(step for step, _ in part.steps),
        triggers=tuple(trigger for trigger, _ in part.triggers),
    )
    expansion.step_paths = [path for _, path in part.steps]
    expansion.trigger_paths = [path for _, path in part.triggers]
    return expansion


def _expand(
    spec: PlaybookSpec, fetch: BlockFetch, *, chain: tuple[str, ...], label: str, errors: list[SpecError]
) -> _Part:
    """Expand ``spec``'s includes; ``chain`` is the blocks being expanded around it (for cycles), ``label`` the
    prefix of its paths in messages (empty for the playbook itself)."""
    own_signals = {signal.name for signal in spec.signals}
    part = _Part(list(spec.signals), [], [(t, f"{label}triggers[{i}]") for i, t in enumerate(spec.triggers)])
    placed: dict[str, _Part] = {}
    for index, include in enumerate(spec.includes):
        path, pinned = f"{label}include[{index}]", f"{include.block}@{include.version}"
        if include.block in placed:
            errors.append(SpecError(f"{path}.block", f"block '{include.block}' is included twice: include it once"))
            continue
        inner = _included(include.block, include.version, fetch, chain=(*chain, pinned), path=path, errors=errors)
        if inner is None:
            continue
        placed[include.block] = inner
        _merge_signals(part, inner, own_signals, include.block, path, errors)
        part.triggers.extend((replace(t, origin=include.block), p) for t, p in inner.triggers)
    used: set[str] = set()
    for index, step in enumerate(spec.steps):
        path = f"{label}steps[{index}]"
        if step.block is None:
            part.steps.append((step, path))
            continue
        inner = placed.get(step.block)
        if inner is None and any(include.block == step.block for include in spec.includes):
            continue  # the include itself is in error, and says so
        if inner is None:
            hint = did_you_mean(step.block, placed) or "; add it under 'include' with the version to use"
            errors.append(SpecError(f"{path}.block", f"block '{step.block}' is not included{hint}"))
        elif step.block in used:
            errors.append(SpecError(f"{path}.block", f"the steps of block '{step.block}' are already placed"))
        elif not inner.steps:
            errors.append(SpecError(f"{path}.block", f"block '{step.block}' has no steps to place here"))
        else:
            used.add(step.block)
            part.steps.extend((replace(s, origin=step.block), f"{path} → {p}") for s, p in inner.steps)
    for index, include in enumerate(spec.includes):
        inner = placed.get(include.block)
        if inner is not None and inner.steps and include.block not in used:
            errors.append(
                SpecError(
                    f"{label}include[{index}]",
                    f"block '{include.block}' has {len(inner.steps)} step(s): place them with "
                    f"'- block: {include.block}' in the steps",
                )
            )
    return part


def _included(
    slug: str, number: int, fetch: BlockFetch, *, chain: tuple[str, ...], path: str, errors: list[SpecError]
) -> _Part | None:
    if chain.count(chain[-1]) > 1:
        errors.append(SpecError(f"{path}.block", f"a cycle of blocks including each other: {' → '.join(chain)}"))
        return None
    if len(chain) > MAX_INCLUDE_DEPTH:
        errors.append(SpecError(f"{path}.block", f"blocks are included more than {MAX_INCLUDE_DEPTH} deep"))
        return None
    block = fetch(slug, number)
    if isinstance(block, Unavailable):
        errors.append(SpecError(f"{path}.{block.field}", block.message))
        return None
    return _expand(block, fetch, chain=chain, label=f"block '{slug}' v{number}: ", errors=errors)


def _merge_signals(part: _Part, inner: _Part, own: set[str], slug: str, path: str, errors: list[SpecError]) -> None:
    """Add a block's signals; the same definition reached twice (two blocks including a third) is kept once."""
    known = {signal.name: replace(signal, origin=None) for signal in part.signals}
    for signal in inner.signals:
        existing = known.get(signal.name)
        if existing is None:
            part.signals.append(replace(signal, origin=slug))
            known[signal.name] = replace(signal, origin=None)
        elif existing != replace(signal, origin=None) or signal.name in own:
            where = f"signals.{signal.name}" if signal.name in own else "another included block"
            errors.append(
                SpecError(
                    path,
                    f"block '{slug}' defines the signal '{signal.name}', which {where} defines too: rename one",
                )
            )
