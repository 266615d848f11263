"""What the platform knows events by: the standard types, the types published playbooks read, and the content
library's module slugs. An event outside them is stored all the same (an app may send a type before a playbook
reads it), but the answer warns about it: a misspelt ``module_complete`` must not vanish silently.

Read fresh for every batch, and only for what the batch holds: one indexed query for its module slugs, and for a
type that is not standard a look at what published playbooks read (rare: connectors send the standard types).
"""

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


def types_read() -> set[str]:
    """The standard types and every type a published playbook's signals, sequences or waits read."""
    published = SignalDefinition.objects.filter(version__status=VersionStatus.PUBLISHED)
    types = set(STANDARD_EVENT_TYPES)
    for event, sequence in published.values_list("event", "sequence"):
        types.add(event)
        types.update(step.get("event", "") for step in sequence or () if isinstance(step, dict))
    for actions in Trigger.objects.filter(version__status=VersionStatus.PUBLISHED).values_list("actions", flat=True):
        types.update(_waited_for(actions))
    types.discard("")
    return types


def _waited_for(actions: Any) -> Iterable[str]:
    """The event types waits among these actions wait for, nested waits included."""
    for action in actions if isinstance(actions, list) else ():
        wait = action.get("wait") if isinstance(action, dict) else None
        if isinstance(wait, dict):
            if isinstance(wait.get("event"), str):
                yield wait["event"]
            yield from _waited_for(wait.get("then"))
            yield from _waited_for(wait.get("else"))


def event_warnings(events: list[EventInput]) -> list[dict[str, Any]]:
    """One warning per event whose type nothing knows, or whose module is not in the content library."""
    unusual = {event.type for event in events} - set(STANDARD_EVENT_TYPES)
    types = types_read() if unusual else set(STANDARD_EVENT_TYPES)
    slugs = {event.module for event in events if event.module}
    modules = set(ContentModule.objects.filter(slug__in=slugs).values_list("slug", flat=True)) if slugs else set()
    library: list[str] | None = None  # read once, and only when a module is unknown, for the suggestions
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
        if event.module and event.module not in modules:
            if library is None:
                library = list(ContentModule.objects.values_list("slug", flat=True))
            warnings.append(
                {
                    "index": event.index,
                    "field": "module",
                    "code": "unknown_module",
                    "message": f"No module '{event.module}' in the content library"
                    f"{did_you_mean(event.module, library) or '.'} It was stored.",
                }
            )
    return warnings
