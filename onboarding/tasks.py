import os
import socket

from celery import shared_task


@shared_task(name="onboarding.ping", ignore_result=False)
def ping() -> dict[str, str | int]:
    """Answer from a worker, saying which one: proves a task round-trip through the broker."""
    return {"pong": "ok", "hostname": socket.gethostname(), "pid": os.getpid()}


@shared_task(name="onboarding.noop")
def noop() -> None:
    """Does nothing: the broker-and-worker overhead that benchmarks/pipeline.py compares evaluation against."""
