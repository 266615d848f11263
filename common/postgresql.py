"""Timestamps read from PostgreSQL through psycopg's C parser.

Django reads every ``timestamptz`` through a loader of its own (``BaseTzLoader``), which subclasses psycopg's
pure-Python loader to set the value's ``tzinfo``: with it, psycopg's C implementation (``psycopg[binary]``) never
parses a timestamp. An evaluation batch reads a few thousand of them (events, enrolments, progress), and parsing
them in Python was about 6 % of a worker's time. ``use_c_timestamp_parser`` (connected to ``connection_created``)
registers on each new connection a loader that parses in C and then sets ``tzinfo`` exactly as Django's does. With
the pure-Python psycopg (no C module) Django's loader stays.
"""

from datetime import tzinfo
from functools import cache
from typing import Any

from psycopg import _cmodule
from psycopg.adapt import Loader

_C_LOADER = getattr(_cmodule._psycopg, "TimestamptzLoader", None)  # None: psycopg without its C module


def use_c_timestamp_parser(*, connection: Any, **_kwargs: Any) -> None:
    if connection.vendor != "postgresql" or _C_LOADER is None:
        return
    connection.connection.adapters.register_loader("timestamptz", _loader(connection.timezone))


@cache
def _loader(zone: tzinfo | None) -> type[Loader]:
    class CTimestamptzLoader(Loader):
        # Django compares this with the connection's zone before each cursor and, if they differ, registers its own
        # loader on that cursor: the same attribute as Django's loader, so that check keeps passing.
        timezone = zone

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._parse = _C_LOADER(oid, context).load

        def load(self, data: Any) -> Any:
            # As Django's loader: the value was parsed in the session's zone, which Django sets to this one.
            return self._parse(data).replace(tzinfo=zone)

    return CTimestamptzLoader
