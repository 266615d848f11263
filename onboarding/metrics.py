"""``/metrics`` for Prometheus: the processes' own counters (common/metrics.py) and figures read from the database at
each scrape (what waits: events not yet evaluated, the outbox, identity sync runs).

Refused unless the caller shows ``METRICS_TOKEN`` as a bearer token or comes from one of ``METRICS_ALLOWED_NETWORKS``
(see the settings): the figures say how busy the platform is and which identity sources fail.
"""

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from common.metrics import REQUEST_SECONDS
from delivery.models import Message, MessageStatus
from identity.models import SyncRun, SyncRunStatus
from signals_app.models import Event, Quarantine


class RequestMetricsMiddleware:
    """Times each request, labelled by its URL pattern (``api/v1/learners/<str:external_id>/next-module``), never by
    its path: one label per route, whatever the ids."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        REQUEST_SECONDS.labels(request.method, route, str(response.status_code)).observe(time.perf_counter() - started)
        return response


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def scrape_registry() -> CollectorRegistry:
    """This machine's processes (all of them in multiprocess mode, else this one) and the database's figures."""
    registry = CollectorRegistry(auto_describe=True)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    registry.register(DatabaseCollector())
    return registry


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return _text(403, "Metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS to allow scraping.")
    if networks and _address_allowed(request.META.get("REMOTE_ADDR", ""), networks):
        return None
    if token:
        sent = request.headers.get("Authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return None
        response = _text(401, "Send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'.")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return _text(403, "This address is not in METRICS_ALLOWED_NETWORKS.")


def _address_allowed(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in networks)


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


class _ProcessRegistry(Collector):
    """The default registry of this process (its counters, and its memory and CPU), inside the scrape's registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class DatabaseCollector(Collector):
    """Gauges read at scrape time. Each query stays on a partial index (events not evaluated, messages waiting) or
    a small table (sync runs), so a scrape costs milliseconds however large the history."""

    def collect(self) -> Iterator[Metric]:
        yield from _evaluation()
        yield from _outbox()
        yield from _sync_runs()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # figures come from the database: nothing to ask it at registration


def _evaluation() -> Iterator[Metric]:
    pending = Event.objects.filter(processed_at__isnull=True).aggregate(count=Count("pk"), oldest=Min("received_at"))
    lag = (timezone.now() - pending["oldest"]).total_seconds() if pending["oldest"] else 0.0
    yield GaugeMetricFamily("onboarding_events_pending", "Events stored and not yet evaluated.", value=pending["count"])
    yield GaugeMetricFamily(
        "onboarding_evaluation_lag_seconds",
        "Age of the oldest event stored and not yet evaluated (0 when the workers are caught up).",
        value=max(lag, 0.0),
    )
    yield GaugeMetricFamily(
        "onboarding_learners_quarantined",
        "Learners whose evaluation failed and waits for an admin's retry.",
        value=Quarantine.objects.count(),
    )


def _outbox() -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "onboarding_outbox_messages",
        "Outbox messages waiting, being sent or dead-lettered, by status.",
        labels=["status"],
    )
    # One count per status, each on its partial index (a count over all three would read the whole table).
    for status in (MessageStatus.SCHEDULED, MessageStatus.SENDING, MessageStatus.DEAD):
        depth.add_metric([status.value], Message.objects.filter(status=status).count())
    yield depth


def _sync_runs() -> Iterator[Metric]:
    runs = GaugeMetricFamily(
        "onboarding_identity_sync_runs",
        "Identity sync runs recorded (dry runs aside), by source and status.",
        labels=["source", "status"],
    )
    last = GaugeMetricFamily(
        "onboarding_identity_sync_last_success_timestamp_seconds",
        "When each source's last successful sync finished (Unix time).",
        labels=["source"],
    )
    rows = SyncRun.objects.filter(dry_run=False).values_list("source__name", "status").annotate(n=Count("pk"))
    for source, status, count in rows.order_by("source__name", "status"):
        runs.add_metric([source, status], count)
    finished = (
        SyncRun.objects.filter(dry_run=False, status=SyncRunStatus.SUCCEEDED)
        .values_list("source__name")
        .annotate(at=Max("finished_at"))
    )
    for source, at in finished.order_by("source__name"):
        if at is not None:
            last.add_metric([source], at.timestamp())
    yield runs
    yield last
