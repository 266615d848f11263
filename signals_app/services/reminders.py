"""Reminders: planned from the decision log under the delivery policy, handed to the outbox, and cancelled when the
learner no longer needs them. Every deferral, suppression and cancellation is written to the decision log, so "why
was I (not) reminded" is answered by ``GET …/decisions``.

The policy is the site's (caps per learner across playbooks and per channel, quiet hours), tightened by the
playbook's own and by the learner's preferences (their quiet hours, a snooze, channels they opted out of); the
delivery itself (retries, fallbacks) is the delivery app's.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from delivery.models import MessageKind, MessageStatus
from delivery.selectors import SitePolicy, preferences_of, site_policy
from delivery.services import Outgoing, messages_cancel, messages_enqueue
from playbooks.engine.durations import parse_duration
from playbooks.engine.reminders import (
    NO_PREFERENCES,
    SUPPRESSED,
    Cap,
    LearnerPreferences,
    QuietHours,
    ReminderPlan,
    plan_reminder,
    preference_windows,
    reminder_channels,
)
from playbooks.engine.spec import PolicySpec
from playbooks.selectors import compiled_version
from signals_app.models import Decision, Reminder, ReminderStatus

RecentReminder = tuple[int, str, datetime]  # playbook id, channel, due at


def reminders_schedule(*, decisions: list[Decision]) -> list[Decision]:
    """Plan the ``remind`` actions among freshly logged decisions (their learners' locks held by the caller) and
    put those not suppressed in the outbox; returns the decisions the policy added (deferred, suppressed)."""
    reminding = [row for row in decisions if row.action and "remind" in row.action]
    if not reminding:
        return []
    site = site_policy()
    recent = _recent(reminding, site)
    preferences = preferences_of(learner_ids=list({row.learner_id for row in reminding}))
    planned: list[tuple[Decision, ReminderPlan]] = []
    for row in sorted(reminding, key=lambda r: (r.decided_at, r.dedupe_key)):
        plan = reminder_plan(
            row.action["remind"],
            decided_at=row.decided_at,
            timezone=row.learner.timezone or "UTC",
            site=site,
            policy=compiled_version(version=row.enrollment.version).spec.policy,
            playbook_id=row.enrollment.playbook_id,
            recent=recent[row.learner_id],
            preferences=preferences.get(row.learner_id, NO_PREFERENCES),
        )
        planned.append((row, plan))
    scheduled = [(row, plan) for row, plan in planned if plan.status != SUPPRESSED]
    outgoing = [_outgoing(row, plan, preferences.get(row.learner_id, NO_PREFERENCES)) for row, plan in scheduled]
    messages = messages_enqueue(outgoing=outgoing)
    by_decision = {row.pk: message for (row, _plan), message in zip(scheduled, messages, strict=True)}
    rerouted = {
        row.pk: sent.channels[0]
        for (row, _plan), sent in zip(scheduled, outgoing, strict=True)
        if sent.channels[0] != row.action["remind"]["channel"]
    }
    Reminder.objects.bulk_create(
        _reminder(row, plan, by_decision.get(row.pk), rerouted.get(row.pk)) for row, plan in planned
    )
    follow_ups = [_policy_decision(row, plan) for row, plan in planned if plan.rule]
    follow_ups += [_rerouted(row, rerouted[row.pk]) for row, _plan in scheduled if row.pk in rerouted]
    return Decision.objects.bulk_create(follow_ups)


def reminder_plan(
    remind: dict,
    *,
    decided_at: datetime,
    timezone: str,
    site: SitePolicy,
    policy: PolicySpec,
    playbook_id: int,
    recent: list[RecentReminder],
    preferences: LearnerPreferences = NO_PREFERENCES,
) -> ReminderPlan:
    """One ``remind`` action under the site's and the playbook's policy and the learner's own ``preferences``; a
    reminder scheduled is added to ``recent`` (the learner's, which the caps count). Pure: the cohort simulator plans
    its in-memory learners' reminders so."""
    channel = remind["channel"]
    plan = plan_reminder(
        remind,
        decided_at=decided_at,
        timezone=timezone,
        quiet_hours=_quiet_hours(site, policy) + preference_windows(preferences),
        caps=_caps(site, policy, channel, playbook_id, recent),
        snoozed_until=preferences.snoozed_until,
    )
    if plan.status != SUPPRESSED:
        recent.append((playbook_id, channel, plan.due_at))
    return plan


def recent_since(decided: list[datetime], site: SitePolicy, policies: list[PolicySpec]) -> datetime:
    """How far back reminders count against the caps for reminders decided at ``decided``."""
    periods = [site.per] if site.max_messages is not None else []
    periods += [per for _most, per in site.channel_caps.values()]
    periods += [policy.frequency_cap_per for policy in policies]
    longest = max((parse_duration(per) for per in periods if per), default=timedelta(0))
    return min(decided) - longest - timedelta(days=1)  # a day's slack for delays


def _quiet_hours(site: SitePolicy, playbook: PolicySpec) -> list[QuietHours]:
    windows = [QuietHours(*site.quiet_hours, "site")] if site.quiet_hours else []
    if playbook.quiet_hours_start and playbook.quiet_hours_end:
        windows.append(QuietHours(playbook.quiet_hours_start, playbook.quiet_hours_end, "playbook"))
    return windows


def _caps(
    site: SitePolicy, playbook: PolicySpec, channel: str, playbook_id: int, recent: list[RecentReminder]
) -> list[Cap]:
    caps = []
    if site.max_messages is not None:
        caps.append(Cap(site.max_messages, site.per, "all playbooks", [due for _p, _c, due in recent]))
    if channel in site.channel_caps:
        most, per = site.channel_caps[channel]
        caps.append(Cap(most, per, f"the {channel} channel", [due for _p, c, due in recent if c == channel]))
    if playbook.frequency_cap_max is not None and playbook.frequency_cap_per:
        mine = [due for p, _c, due in recent if p == playbook_id]
        caps.append(Cap(playbook.frequency_cap_max, playbook.frequency_cap_per, "this playbook", mine))
    return caps


def _recent(reminding: list[Decision], site: SitePolicy) -> dict[int, list[RecentReminder]]:
    """The learners' reminders that count against caps: scheduled, not cancelled nor dead-lettered."""
    policies = [compiled_version(version=row.enrollment.version).spec.policy for row in reminding]
    since = recent_since([row.decided_at for row in reminding], site, policies)
    rows = (
        Reminder.objects.filter(
            learner_id__in={row.learner_id for row in reminding}, due_at__gte=since, status=ReminderStatus.SCHEDULED
        )
        .exclude(message__status__in=[MessageStatus.CANCELLED, MessageStatus.DEAD])
        .values_list("learner_id", "enrollment__playbook_id", "channel", "due_at")
    )
    recent: dict[int, list[RecentReminder]] = defaultdict(list)
    for learner_id, playbook_id, channel, due_at in rows:
        recent[learner_id].append((playbook_id, channel, due_at))
    return recent


def _outgoing(row: Decision, plan: ReminderPlan, preferences: LearnerPreferences) -> Outgoing:
    remind = row.action["remind"]
    return Outgoing(
        kind=MessageKind.REMINDER,
        channels=reminder_channels(remind, preferences),
        due_at=plan.due_at,
        learner_id=row.learner_id,
        enrollment_id=row.enrollment_id,
        about_module=row.module,
        endpoint=remind.get("endpoint", ""),
        payload={
            "template": remind.get("template", ""),
            "module": remind.get("attach_module", ""),
            "critical": bool(remind.get("critical")),  # the outbox holds no critical reminder for a snooze
        },
    )


def _reminder(row: Decision, plan: ReminderPlan, message, rerouted_to: str | None) -> Reminder:
    remind = row.action["remind"]
    return Reminder(
        learner_id=row.learner_id,
        enrollment_id=row.enrollment_id,
        decision=row,
        channel=remind["channel"],
        fallback=remind.get("fallback", ""),
        template=remind.get("template", ""),
        attach_module=remind.get("attach_module", ""),
        module=row.module,
        endpoint=remind.get("endpoint", ""),
        due_at=plan.due_at,
        status=plan.status,
        note="; ".join(filter(None, [plan.note, rerouted_to and _opted_out(row.action["remind"], rerouted_to)])),
        message=message,
    )


def _policy_decision(row: Decision, plan: ReminderPlan) -> Decision:
    remind = row.action["remind"]
    what = _describe(remind)
    if plan.status == SUPPRESSED:
        kind, explanation = "suppressed", f"{what} was not scheduled: {plan.note}."
    else:
        kind, explanation = "deferred", f"{what} was {plan.note}."
    return _follow_up(row, kind, f"delivery policy: {plan.rule}", explanation, "policy", {"remind": remind})


def _opted_out(remind: dict, channel: str) -> str:
    return f"goes by {channel}: the learner opted out of {remind['channel']}"


def _rerouted(row: Decision, channel: str) -> Decision:
    remind = row.action["remind"]
    explanation = f"{_describe(remind)} {_opted_out(remind, channel)}."
    return _follow_up(
        row, "rerouted", "learner preferences: channel opt-out", explanation, "opt-out", {"remind": remind}
    )


def _describe(remind: dict) -> str:
    template = f" '{remind['template']}'" if remind.get("template") else ""
    return f"The {remind['channel']} reminder{template}"


def _follow_up(row: Decision, kind: str, rule: str, explanation: str, suffix: str, action: dict) -> Decision:
    return Decision(
        learner_id=row.learner_id,
        enrollment_id=row.enrollment_id,
        event_id=row.event_id,
        dedupe_key=f"{row.dedupe_key}:{suffix}",
        kind=kind,
        rule=rule,
        explanation=explanation,
        step=row.step,
        module=row.module,
        action=action,
        decided_at=row.decided_at,
    )


@dataclass(frozen=True)
class Cancellation:
    """Reminders of one enrolment that the learner no longer needs, and why."""

    enrollment_id: int
    reason: str
    at: datetime
    event_id: int | None = None
    module: str | None = None  # only the reminders about this module; None: all of the enrolment's


def reminders_cancel(*, cancellations: list[Cancellation]) -> list[Decision]:
    """Cancel the reminders still waiting to be sent (the learner did the module, or the playbook is over) and log
    each cancellation; returns the decisions logged."""
    if not cancellations:
        return []
    waiting = (
        Reminder.objects.filter(
            enrollment_id__in={c.enrollment_id for c in cancellations}, message__status=MessageStatus.SCHEDULED
        )
        .select_related("message", "decision")
        .order_by("pk")
    )
    logged: list[Decision] = []
    for cancellation in cancellations:
        matching = [
            reminder
            for reminder in waiting
            if reminder.enrollment_id == cancellation.enrollment_id
            and (cancellation.module is None or reminder.module == cancellation.module)
            and reminder.decision.decided_at <= cancellation.at
            and reminder.message.status == MessageStatus.SCHEDULED
        ]
        if not matching:
            continue  # the usual case: most completions have no reminder waiting
        cancelled = {m.pk for m in messages_cancel(messages=[r.message for r in matching], reason=cancellation.reason)}
        for reminder in matching:
            if reminder.message.pk in cancelled:
                reminder.message.status = MessageStatus.CANCELLED
                row = reminder.decision
                logged.append(
                    _follow_up(
                        row,
                        "cancelled",
                        "reminder cancelled",
                        f"{_describe(row.action['remind'])} due {reminder.due_at:%Y-%m-%d %H:%M} UTC was cancelled: "
                        f"{cancellation.reason}.",
                        "cancelled",
                        {"remind": row.action["remind"]},
                    )
                )
                logged[-1].event_id, logged[-1].decided_at = cancellation.event_id, cancellation.at
    return Decision.objects.bulk_create(logged)
