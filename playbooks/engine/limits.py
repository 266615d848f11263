"""Trigger limits: at most ``per_learner`` firings for the whole journey or in any sliding window (``per``), and a
``cooldown`` between two firings. Pure: the engine asks before each firing and records the firing in the trigger's
memory, which keeps only the firings that can still hold a later one back."""

from datetime import datetime
from functools import lru_cache

from playbooks.engine.durations import parse_duration, utc_text
from playbooks.engine.spec import TriggerSpec

_parse = lru_cache(maxsize=256)(parse_duration)


def held_back(trigger: TriggerSpec, *, fired: int, recent: list[str], moment: datetime) -> str | None:
    """Why ``trigger`` may not fire at ``moment`` (for the decision log), or None when it may."""
    limit = trigger.limit_per_learner
    if limit is not None and trigger.limit_per is None and fired >= limit:
        return f"limit of {limit} per learner reached"
    times = [datetime.fromisoformat(text) for text in recent]
    if limit is not None and trigger.limit_per is not None:
        window = _parse(trigger.limit_per)
        # A window is (moment - per, moment]: a firing exactly ``per`` ago no longer counts.
        within = [time for time in times if time > moment - window]
        if len(within) >= limit:
            counted, again = ", ".join(map(utc_text, within[-limit:])), utc_text(within[-limit] + window)
            return f"limit of {limit} per {trigger.limit_per} reached (fired at {counted}; next possible after {again})"
    if trigger.cooldown is not None and times:
        until = times[-1] + _parse(trigger.cooldown)
        if moment < until:
            return f"cooldown of {trigger.cooldown} after it fired at {utc_text(times[-1])} (until {utc_text(until)})"
    return None


def remembered(trigger: TriggerSpec, recent: list[str], moment: datetime) -> list[str]:
    """``recent`` with a firing at ``moment``: the last ``per_learner`` firings for a windowed limit, the last one
    for a cooldown, none otherwise (the lifetime count is kept apart)."""
    keep = (trigger.limit_per_learner or 1) if trigger.limit_per is not None else 0
    keep = max(keep, 1 if trigger.cooldown is not None else 0)
    return [*recent, moment.isoformat()][-keep:] if keep else []
