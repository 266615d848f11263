"""Trigger limits per window and cooldowns: what fires, what is held back, and what the decision log says."""

from tests.playbooks.engine.test_engine_actions import Journey, _playbook

PATH = [{"module": "a"}, {"module": "b"}]


def _searches(**limits):
    trigger = {"name": "tip", "when": 'event.type == "search_failed"', "then": [{"flag": "tip"}], **limits}
    return Journey(_playbook(PATH, [trigger]))


def _fired(journey) -> list[str]:
    return [d.kind for d in journey.decisions if d.kind in ("trigger", "suppressed")]


def _match(journey, minutes: int) -> None:
    """One failed search ``minutes`` after the previous event, then another event that re-arms the edge."""
    journey.send("search_failed", minutes=minutes)
    journey.send("search_succeeded")


def test_a_fourth_match_within_24_hours_is_held_back_and_says_until_when():
    journey = _searches(limit={"per_learner": 3, "per": "24h"})
    for minutes in (0, 120, 180, 600):  # 09:00, 11:01, 14:02 and 00:03 the next day
        _match(journey, minutes)

    assert _fired(journey) == ["trigger", "trigger", "trigger", "suppressed"]
    held = next(d for d in journey.decisions if d.kind == "suppressed")
    assert held.explanation.startswith(
        "Not fired: limit of 3 per 24h reached (fired at 2026-03-02 09:00:00 UTC, 2026-03-02 11:01:00 UTC, "
        "2026-03-02 14:02:00 UTC; next possible after 2026-03-03 09:00:00 UTC)"
    )


def test_the_window_slides_a_match_after_it_fires_again():
    journey = _searches(limit={"per_learner": 3, "per": "24h"})
    for minutes in (0, 120, 180):
        _match(journey, minutes)
    _match(journey, 24 * 60 - 300)  # 09:03 the next day: the 09:00 firing has left the window

    assert _fired(journey) == ["trigger"] * 4


def test_a_match_exactly_one_window_later_no_longer_counts_the_first():
    journey = _searches(limit={"per_learner": 1, "per": "1h"})
    _match(journey, 0)  # fires at 09:00, re-armed at 09:01
    _match(journey, 58)  # 09:59: within the hour
    _match(journey, 0)  # 10:00: exactly an hour after the first

    assert _fired(journey) == ["trigger", "suppressed", "trigger"]


def test_a_cooldown_holds_back_matches_until_it_has_passed():
    journey = _searches(cooldown="1h")
    _match(journey, 0)  # 09:00
    _match(journey, 30)  # 09:31
    _match(journey, 30)  # 10:02

    assert _fired(journey) == ["trigger", "suppressed", "trigger"]
    held = next(d for d in journey.decisions if d.kind == "suppressed")
    assert (
        "cooldown of 1h after it fired at 2026-03-02 09:00:00 UTC (until 2026-03-02 10:00:00 UTC)" in held.explanation
    )


def test_the_lifetime_limit_keeps_working_beside_a_cooldown():
    journey = _searches(limit={"per_learner": 2}, cooldown="10m")
    for _ in range(4):
        _match(journey, 60)

    assert _fired(journey) == ["trigger", "trigger", "suppressed", "suppressed"]
    held = [d.explanation for d in journey.decisions if d.kind == "suppressed"]
    assert all(text.startswith("Not fired: limit of 2 per learner reached") for text in held)
