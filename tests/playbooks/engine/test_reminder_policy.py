"""Reminder policy: quiet hours defer in the learner's own time zone, caps suppress, critical passes."""

from datetime import UTC, datetime, timedelta

import pytest

from playbooks.engine.reminders import SCHEDULED, SUPPRESSED, Cap, QuietHours, plan_reminder

NIGHT = QuietHours("21:00", "08:00", "playbook")
EMAIL = {"channel": "email", "template": "drop_off"}


def _plan(at: datetime, *, recent=(), timezone="Europe/Berlin", remind=EMAIL, quiet=(NIGHT,), caps=None):
    caps = [Cap(2, "24h", "this playbook", list(recent))] if caps is None else caps
    return plan_reminder(remind, decided_at=at, timezone=timezone, quiet_hours=quiet, caps=caps)


def test_a_reminder_outside_quiet_hours_is_due_at_once():
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin

    plan = _plan(at)

    assert (plan.due_at, plan.status, plan.note, plan.deferred) == (at, SCHEDULED, "", False)


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
    assert (plan.status, plan.deferred) == (SCHEDULED, True)
    assert plan.note == "deferred to 08:00 Europe/Berlin: quiet hours 21:00-08:00 (playbook)"


def test_the_site_and_the_playbook_quiet_hours_both_hold_the_stricter_wins():
    site, playbook = QuietHours("22:00", "07:00", "site"), QuietHours("20:00", "08:30", "playbook")

    plan = _plan(datetime(2026, 3, 2, 20, 30, tzinfo=UTC), quiet=(site, playbook))  # 21:30 Berlin

    assert plan.due_at == datetime(2026, 3, 3, 7, 30, tzinfo=UTC)  # 08:30 Berlin
    assert plan.note == "deferred to 08:30 Europe/Berlin: quiet hours 20:00-08:30 (playbook)"


def test_windows_that_push_into_each_other_are_both_respected():
    morning, late_morning = QuietHours("06:00", "09:00", "site"), QuietHours("08:30", "10:00", "playbook")

    plan = _plan(datetime(2026, 3, 2, 6, 0, tzinfo=UTC), quiet=(late_morning, morning))  # 07:00 Berlin

    assert plan.due_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 Berlin: out of both


def test_the_frequency_cap_suppresses_and_says_which():
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    recent = [at - timedelta(hours=3), at - timedelta(hours=1)]

    plan = _plan(at, recent=recent)

    assert plan.status == SUPPRESSED
    assert plan.note == "frequency cap: 2 reminder(s) already in 24h (at most 2, this playbook)"
    assert plan.rule == "frequency cap 2 per 24h (this playbook)"


def test_the_first_cap_reached_is_the_one_named():
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    caps = [
        Cap(3, "24h", "all playbooks", [at - timedelta(hours=2)]),
        Cap(1, "1h", "the slack channel", [at - timedelta(minutes=20)]),
    ]

    plan = _plan(at, caps=caps)

    assert plan.note == "frequency cap: 1 reminder(s) already in 1h (at most 1, the slack channel)"


def test_reminders_older_than_the_cap_window_do_not_count():
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    plan = _plan(at, recent=[at - timedelta(hours=25), at - timedelta(hours=24, seconds=1), at - timedelta(hours=2)])

    assert plan.status == SCHEDULED


def test_a_critical_reminder_ignores_quiet_hours_and_the_cap():
    at = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)

    plan = _plan(at, recent=[at, at], remind={**EMAIL, "critical": True})

    assert (plan.due_at, plan.status, plan.deferred) == (at, SCHEDULED, False)


def test_a_delay_moves_the_reminder_before_the_policy_applies():
    at = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 19:00 Berlin; +3h = 22:00, inside quiet hours

    plan = _plan(at, remind={**EMAIL, "delay": "3h"})

    assert plan.due_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
