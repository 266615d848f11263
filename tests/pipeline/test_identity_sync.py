"""The identity sync on a real Celery worker: sent by name through Redis to the identity queue; a run whose worker
was lost is found by its stale heartbeat, marked failed and started again."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from identity.models import Learner, SyncRun, SyncRunStatus
from identity.services.sync import sync_start
from onboarding.celery import app as celery_app
from tests.identity.sync_fixtures import HEADER, make_file_source
from tests.pipeline.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def source(tmp_path, settings, monkeypatch):
    settings.IDENTITY_FILES_DIR = tmp_path
    monkeypatch.setenv("IDENTITY_FILES_DIR", str(tmp_path))  # the worker process reads it from its environment
    (tmp_path / "people.csv").write_text(
        "\n".join([HEADER, *(f"{n},E{n},p{n}@example.com,P{n},support,1,support,yes" for n in range(50))])
    )
    return make_file_source(tmp_path)


def test_a_sync_started_from_the_admin_runs_on_the_identity_worker(source, start_worker):
    start_worker()
    with transaction.atomic():
        sync_start(source=source)

    wait_until(lambda: SyncRun.objects.filter(status=SyncRunStatus.SUCCEEDED).exists(), what="the sync run")

    assert Learner.objects.count() == 50
    assert SyncRun.objects.get().counts["created"] == 50


def test_a_run_whose_worker_was_lost_is_started_again_by_the_sweeper(source, start_worker):
    lost = SyncRun.objects.create(
        source=source, started_at=timezone.now() - timedelta(hours=1), heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    start_worker()

    celery_app.send_task("identity.sweep_sync_runs")

    wait_until(lambda: SyncRun.objects.filter(status=SyncRunStatus.SUCCEEDED).exists(), what="the new run")
    lost.refresh_from_db()
    assert lost.status == SyncRunStatus.FAILED
    assert Learner.objects.count() == 50
