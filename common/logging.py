"""Logging helpers: the simulator's synthetic learners must not look like real activity in the logs."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_simulating: ContextVar[bool] = ContextVar("simulating", default=False)


@contextmanager
def simulating() -> Iterator[None]:
    """Within this block (this thread or task only), records below WARNING from our services are dropped."""
    token = _simulating.set(True)
    try:
        yield
    finally:
        _simulating.reset(token)


class DropWhileSimulating(logging.Filter):
    """A handler filter (settings.LOGGING): 'enrolment created' for a synthetic learner is noise, not activity."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _simulating.get() or record.levelno >= logging.WARNING
