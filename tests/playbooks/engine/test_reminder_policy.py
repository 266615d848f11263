"""Reminder policy: quiet hours defer in the learner's own time zone, the cap suppresses, critical passes."""

from datetime import UTC, datetime, timedelta

import pytest

from playbooks.engine.reminders import SCHEDULED, SUPPRESSED, plan_reminder
from playbooks.engine.spec import PolicySpec

POLICY = PolicySpec(frequency_cap_max=2, frequency_cap_per="24h", quiet_hours_start="21:00", quiet_hours_end="08:00")
EMAIL = {"channel": "email", "template": "drop_off"}


def _plan(at: datetime, *, recent=(), timezone="Europe/Berlin", remind=EMAIL, policy=POLICY):
    return plan_reminder(remind, decided_at=at, policy=policy, timezone=timezone, recent=list(recent))


def test_a_reminder_outside_quiet_hours_is_due_at_once():
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin

    plan = _plan(at)

    assert (plan.due_at, plan.status, plan.note) == (at, SCHEDULED, "")


@pytest.mark.parametrize(
    ("utc_hour", "expected"),
    [
        (21, datetime(2026, 3, 3, 7, 0, tzinfo=UTC)),  # 22:00 Berlin -> 08:00 Berlin next morning
        (2, datetime(2026, 3, 2, 7, 0, tzinfo=UTC)),  # 03:00 Berlin -> 08:00 the same morning
    ],
)
def test_quiet_hours_defer_to_their_end_in_the_learners_zone(utc_hour, expected):
    plan = _plan(datetime(2026, 3, 2, utc_hour, 0, tzinfo=UTC))

    assert plan.due_at == expected
    assert plan.status == SCHEDULED
    assert plan.note == "deferred to 08:00 Europe/Berlin: quiet hours 21:00-08:00"


def test_the_frequency_cap_suppresses_and_says_why():
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    recent = [at - timedelta(hours=3), at - timedelta(hours=1)]

    plan = _plan(at, recent=recent)

    assert plan.status == SUPPRESSED
    assert plan.note == "frequency cap: 2 reminder(s) already in 24h (at most 2)"


def test_reminders_older_than_the_cap_window_do_not_count():
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    plan = _plan(at, recent=[at - timedelta(hours=25), at - timedelta(hours=24, seconds=1), at - timedelta(hours=2)])

    assert plan.status == SCHEDULED


def test_a_critical_reminder_ignores_quiet_hours_and_the_cap():
    at = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)

    plan = _plan(at, recent=[at, at], remind={**EMAIL, "critical": True})

    assert (plan.due_at, plan.status) == (at, SCHEDULED)


def test_a_delay_moves_the_reminder_before_the_policy_applies():
    at = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 19:00 Berlin; +3h = 22:00, inside quiet hours

    plan = _plan(at, remind={**EMAIL, "delay": "3h"})

    assert plan.due_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
