"""Reads: a version as the engine's spec, complete with the settings ``selectors.version_spec`` does not read yet
(a trigger's window and cooldown, a sequence signal's steps). It completes that spec from the same rows' newer
columns, two more queries; every caller that hands a version to the engine, compares it with a file or exports it
reads it here.
"""

from dataclasses import replace
from functools import lru_cache

from playbooks import selectors
from playbooks.engine.journey import CompiledPlaybook
from playbooks.engine.spec import PlaybookSpec, SequenceStep
from playbooks.models import PlaybookVersion, SignalDefinition, Trigger


def version_spec(*, version: PlaybookVersion) -> PlaybookSpec:
    spec = selectors.version_spec(version=version)
    triggers = {
        name: (per or None, cooldown or None)
        for name, per, cooldown in Trigger.objects.filter(version=version).values_list("name", "limit_per", "cooldown")
    }
    signals = {
        name: (tuple(SequenceStep(step["event"], step["where"] or None) for step in sequence), within or None)
        for name, sequence, within in SignalDefinition.objects.filter(version=version).values_list(
            "name", "sequence", "within"
        )
    }
    return replace(
        spec,
        signals=tuple(replace(s, sequence=signals[s.name][0], within=signals[s.name][1]) for s in spec.signals),
        triggers=tuple(replace(t, limit_per=triggers[t.name][0], cooldown=triggers[t.name][1]) for t in spec.triggers),
    )


@lru_cache(maxsize=512)
def _compiled(version_pk: int, updated_at: str) -> CompiledPlaybook:
    return CompiledPlaybook(version_spec(version=PlaybookVersion.objects.get(pk=version_pk)))


def compiled_version(*, version: PlaybookVersion) -> CompiledPlaybook:
    """The version's conditions compiled once per process; a draft's edits change ``updated_at`` and the key."""
    return _compiled(version.pk, version.updated_at.isoformat())
