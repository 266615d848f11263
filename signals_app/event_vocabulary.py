"""What the platform knows events by: the standard types, the types published playbooks read, and the content
library's module slugs. An event outside them is stored all the same (an app may send a type before a playbook
reads it), but the answer warns about it: a misspelt ``module_complete`` must not vanish silently."""

import time
from collections.abc import Iterable
from typing import Any

from playbooks.engine.shapes import did_you_mean
from playbooks.models import ContentModule, SignalDefinition, Trigger, VersionStatus
from signals_app.event_input import EventInput

STANDARD_EVENT_TYPES = (
    "session_started",
    "session_ended",
    "module_viewed",
    "module_started",
    "module_progress",
    "module_completed",
    "module_skipped",
    "module_exited",
    "page_view",
    "click",
    "ticket_submitted",
    "survey_answered",
)
# Read at most this often per process: a type a playbook starts reading is known within this many seconds.
CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, frozenset[str]]] = {}


def _cached(name: str, read) -> frozenset[str]:
    now = time.monotonic()
    hit = _cache.get(name)
    if hit is None or now - hit[0] > CACHE_SECONDS:
        hit = (now, frozenset(read()))
        _cache[name] = hit
    return hit[1]


def _types_read() -> Iterable[str]:
    published = SignalDefinition.objects.filter(version__status=VersionStatus.PUBLISHED)
    yield from STANDARD_EVENT_TYPES
    for event, sequence in published.values_list("event", "sequence"):
        if event:
            yield event
        yield from (step.get("event", "") for step in sequence or () if isinstance(step, dict))
    for actions in Trigger.objects.filter(version__status=VersionStatus.PUBLISHED).values_list("actions", flat=True):
        yield from _waited_for(actions)


def _waited_for(actions: Any) -> Iterable[str]:
    """The event types waits among these actions wait for, nested waits included."""
    for action in actions if isinstance(actions, list) else ():
        wait = action.get("wait") if isinstance(action, dict) else None
        if isinstance(wait, dict):
            if isinstance(wait.get("event"), str):
                yield wait["event"]
            yield from _waited_for(wait.get("then"))
            yield from _waited_for(wait.get("else"))


def known_event_types() -> frozenset[str]:
    return _cached("types", _types_read)


def known_module_slugs() -> frozenset[str]:
    return _cached("modules", lambda: ContentModule.objects.values_list("slug", flat=True))


def event_warnings(events: list[EventInput]) -> list[dict[str, Any]]:
    """One warning per event whose type nothing knows, or whose module is not in the content library."""
    if not events:
        return []
    types, modules = known_event_types(), None
    warnings = []
    for event in events:
        if event.type not in types:
            warnings.append(
                {
                    "index": event.index,
                    "field": "type",
                    "code": "unknown_type",
                    "message": f"No standard type and no published playbook reads events of type '{event.type}'"
                    f"{did_you_mean(event.type, types) or '.'} It was stored.",
                }
            )
        if event.module:
            modules = modules if modules is not None else known_module_slugs()
            if event.module not in modules:
                warnings.append(
                    {
                        "index": event.index,
                        "field": "module",
                        "code": "unknown_module",
                        "message": f"No module '{event.module}' in the content library"
                        f"{did_you_mean(event.module, modules) or '.'} It was stored.",
                    }
                )
    return warnings
