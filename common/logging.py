"""Logging helpers: the ids a record is about (bound per request and per task), and the simulator's synthetic
learners kept out of the logs."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

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


# What the current request or task is about (its learner, playbook, task id): added to every record logged within it,
# so that a line deep in a service still says whose work it was. A copy per thread and per task, never shared.
_context: ContextVar[dict[str, Any]] = ContextVar("log_context", default={})  # noqa: B039 - never mutated in place


def bind_log_context(**fields: Any) -> Token:
    """Add fields to the context of this request or task until ``reset_log_context(token)``."""
    return _context.set({**_context.get(), **{key: value for key, value in fields.items() if value is not None}})


def reset_log_context(token: Token) -> None:
    _context.reset(token)


def clear_log_context() -> None:
    _context.set({})


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        reset_log_context(token)


class AddLogContext(logging.Filter):
    """A handler filter (settings.LOGGING): the bound context's fields on each record, unless the call's own
    ``extra`` already names them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True
