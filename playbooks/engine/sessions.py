"""Sessions and engagement velocity, as built-in names of the condition vocabulary.

A session starts with a ``session_started`` event and ends with ``session_ended``; one that gets no end (a closed
tab sends nothing) ends at its last event once ``SESSION_GAP`` passes without another, and a new start ends the one
before it the same way. ``session_seconds`` is the open session's length so far (0 when none is open),
``avg_session_seconds`` the mean length of the ended ones, ``interactions_per_active_day`` the learner's events
(session markers aside) per local day on which they had any.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playbooks.engine.signals import SESSION, EventFact

SESSION_ENDED = "session_ended"
SESSION_GAP = timedelta(minutes=30)
SESSION_NAMES = ("session_seconds", "avg_session_seconds", "interactions_per_active_day")
# The names that change while no event arrives: an open session grows, and times out into the average.
SESSION_CLOCK_NAMES = frozenset({"session_seconds", "avg_session_seconds"})


@dataclass(frozen=True)
class Sessions:
    """A learner's sessions, summed up so that their values at any later moment cost nothing to compute."""

    ended_seconds: float = 0.0
    ended: int = 0
    open_since: datetime | None = None  # the last session, if no event ended it
    last_seen: datetime | None = None  # its latest event
    interactions_per_active_day: float = 0.0

    def values(self, now: datetime) -> dict[str, float]:
        total, count, current = self.ended_seconds, self.ended, 0.0
        if self.open_since is not None and self.last_seen is not None:
            if now - self.last_seen < SESSION_GAP:
                current = (now - self.open_since).total_seconds()
            else:
                total, count = total + (self.last_seen - self.open_since).total_seconds(), count + 1
        return {
            "session_seconds": current,
            "avg_session_seconds": total / count if count else 0.0,
            "interactions_per_active_day": self.interactions_per_active_day,
        }


def sessions_of(events: Sequence[EventFact], zone: ZoneInfo) -> Sessions:
    """``events`` in occurred_at order."""
    lengths: list[float] = []
    since: datetime | None = None
    last: datetime | None = None
    interactions, days = 0, set()
    for event in events:
        gap = last is not None and event.occurred_at - last >= SESSION_GAP
        if since is not None and last is not None and (event.type == SESSION or gap):
            lengths.append((last - since).total_seconds())  # no end came: it ended at its last event
            since = None
        if event.type == SESSION:
            since = event.occurred_at
        elif event.type == SESSION_ENDED and since is not None:
            lengths.append((event.occurred_at - since).total_seconds())
            since = None
        elif event.type != SESSION_ENDED:
            interactions += 1
            days.add(event.occurred_at.astimezone(zone).date())
        last = event.occurred_at
    return Sessions(sum(lengths), len(lengths), since, last, interactions / len(days) if days else 0.0)
