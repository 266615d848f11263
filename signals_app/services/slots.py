"""Queue slots: at most a few evaluation tasks wait in the broker's queue at once, however many requests arrive.

Every ingestion used to enqueue a task for its learners. Under load, many small requests (apps posting an event or
two) made a hundred tasks a second, each paying a transaction, and most found their learners already evaluated by
a task that took them along. Now a request takes a free slot and enqueues a task with it; the task gives its slot
back when it starts, before it reads who is waiting. A request finding every slot taken enqueues nothing: the
tasks holding the slots have not started, so they will read its events (they take along the learners waiting
longest, and drain the backlog while their batches come out full). The slots live in Redis, beside the queue:
``SET NX`` with an expiry, so that a slot whose task was lost (a purged queue) frees itself within
``SLOT_SECONDS``, and the sweeper has anything left over. With the embedded broker (no Redis) every request
enqueues its task, as before.
"""

import logging
from functools import cache
from typing import Final

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

UNCOORDINATED: Final = -1  # no Redis: enqueue without a slot
ALL_TAKEN: Final = 0  # leave the learners to the tasks already waiting
SLOT_SECONDS = 5.0

# The first free slot, taken in one round trip.
_TAKE = """
for index, key in ipairs(KEYS) do
    if redis.call('SET', key, '1', 'NX', 'PX', ARGV[1]) then
        return index
    end
end
return 0
"""


class SlotsUnavailable(Exception):
    """Redis did not answer: the broker is very likely down too, and the sweeper will enqueue the learners."""


def slot_take() -> int:
    """A free slot's number (from 1), ``ALL_TAKEN``, or ``UNCOORDINATED`` without Redis; raises
    ``SlotsUnavailable`` if Redis fails."""
    client = _client()
    if client is None:
        return UNCOORDINATED
    try:
        keys = _keys()
        return int(client.eval(_TAKE, len(keys), *keys, int(SLOT_SECONDS * 1000)))
    except redis.RedisError as exc:
        raise SlotsUnavailable(repr(exc)) from exc


def slot_release(slot: int) -> None:
    """Give the slot back as the task starts (before it reads who is waiting); a failure only lets it expire."""
    client = _client()
    if client is None or slot < 1:
        return
    try:
        client.delete(_key(slot))
    except redis.RedisError as exc:
        logger.warning("signals.slots.release_failed", extra={"slot": slot, "error": repr(exc)})


def _keys() -> list[str]:
    return [_key(n) for n in range(1, settings.EVALUATION_QUEUED_TASKS + 1)]


def _key(slot: int) -> str:
    # Per database: deployments (and test runs) sharing a Redis keep their own slots.
    return f"onboarding:evaluation-slot:{settings.DATABASES['default']['NAME']}:{slot}"


def _client() -> redis.Redis | None:
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("socket_timeout", 1.0)
    return _client_for(settings.CELERY_BROKER_URL, timeout)


@cache
def _client_for(url: str, timeout: float) -> redis.Redis | None:
    if not url.startswith(("redis://", "rediss://")):
        return None
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
