"""Durations as admins write them: ``30s``, ``10m``, ``24h``, ``7d``, and combinations such as ``1d1m``."""

import re
from datetime import UTC, datetime, timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+[smhdw])+$")
_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


class DurationError(ValueError):
    pass


def parse_duration(text: object) -> timedelta:
    """``"1d1m"`` → ``timedelta(days=1, minutes=1)``; raises DurationError with a fix-it message otherwise."""
    if not isinstance(text, str) or not _WHOLE.match(text.strip()):
        raise DurationError(
            f"{text!r} is not a duration; write a number and a unit (s, m, h, d, w), e.g. 90s, 24h, 1d2h"
        )
    try:
        return timedelta(seconds=sum(int(n) * _SECONDS[unit] for n, unit in _PART.findall(text)))
    except OverflowError:
        raise DurationError(f"{text!r} is too long a duration") from None


def format_duration(delta: timedelta) -> str:
    """The shortest spelling that parses back to ``delta`` (``timedelta(hours=24)`` → ``"1d"``)."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def utc_text(moment: datetime) -> str:
    """How the decision log writes a moment: ``2026-03-02 09:04:00 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
