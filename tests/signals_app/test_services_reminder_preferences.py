"""The learner's own reminder settings in the delivery policy: their quiet hours and snooze defer a reminder, an
opted-out channel is never used for them, and the decision log says so each time."""

from datetime import UTC, date, datetime

import pytest

from delivery.services import preferences_update
from playbooks.services import playbook_import
from signals_app.models import Decision, Reminder
from tests.signals_app.test_services_reminders import PLAYBOOK, T0, _import, _learner, _pause

pytestmark = pytest.mark.django_db


def test_the_learners_quiet_hours_defer_a_reminder_and_the_log_says_whose():
    _import(policy="")
    learner = _learner()
    preferences_update(learner=learner, quiet_hours_start="10:00", quiet_hours_end="13:00")

    _pause(learner, T0)  # fires 11:00 UTC = 12:00 Berlin, inside the learner's own quiet hours

    assert Reminder.objects.get().due_at == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 13:00 Berlin
    deferred = Decision.objects.get(kind="deferred")
    assert deferred.rule == "delivery policy: quiet hours 10:00-13:00 (yours)"


def test_a_snooze_holds_every_reminder_until_its_day_begins_in_the_learners_time_zone():
    _import(policy="")
    learner = _learner()
    preferences_update(learner=learner, snoozed_until=date(2026, 3, 5))

    _pause(learner, T0)

    reminder = Reminder.objects.select_related("message").get()
    # Midnight in Berlin is inside the site's quiet hours (21:00-08:00): 08:00 Berlin on the 5th.
    assert reminder.due_at == reminder.message.next_attempt_at == datetime(2026, 3, 5, 7, 0, tzinfo=UTC)
    assert Decision.objects.get(kind="deferred").explanation == (
        "The email reminder 'drop_off' was deferred to 2026-03-05 08:00 Europe/Berlin: snoozed by the learner until "
        "2026-03-05; quiet hours 21:00-08:00 (site)."
    )


def test_an_opted_out_channel_is_left_out_and_the_reminder_goes_to_the_learners_page():
    _import(policy="")
    learner = _learner()
    preferences_update(learner=learner, opted_out=["email"])

    _pause(learner, T0)

    reminder = Reminder.objects.select_related("message").get()
    assert reminder.channel == "email" and reminder.message.channels == ["in_app"]
    rerouted = Decision.objects.get(kind="rerouted")
    assert rerouted.explanation == "The email reminder 'drop_off' goes by in_app: the learner opted out of email."


def test_a_critical_reminder_is_not_snoozed_but_an_opt_out_still_holds():
    text = PLAYBOOK.replace("SLUG", "urgent").replace("CHANNEL", "email").replace("POLICY", "")
    playbook_import(text=text.replace("template: drop_off", "template: drop_off, critical: true"), publish=True)
    learner = _learner()
    preferences_update(learner=learner, snoozed_until=date(2026, 3, 5), opted_out=["email"])

    _pause(learner, T0)

    urgent = Reminder.objects.select_related("message").get(enrollment__playbook__slug="urgent")
    assert urgent.due_at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC) and urgent.message.channels == ["in_app"]


def test_saving_the_same_settings_twice_changes_nothing():
    learner = _learner()
    first = preferences_update(learner=learner, quiet_hours_start="19:00", quiet_hours_end="07:00", opted_out=["slack"])

    again = preferences_update(
        learner=learner, quiet_hours_start="19:00", quiet_hours_end="07:00", opted_out=["slack", "slack"]
    )

    assert again.pk == first.pk and again.opted_out == ["slack"]
