"""The compiled closures decide exactly as rule-engine does, on every condition and any values (hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks.engine.conditions import compile_condition, vocabulary_for

VOCABULARY = vocabulary_for((("tickets_7d", "count"), ("last_score", "last")))
CONDITIONS = [
    "avg_module_seconds < 90 and skips >= 3",
    "avg_module_seconds >= 90 and avg_module_seconds < 120 and skips <= 1",
    "attributes.api_access == true and tickets_7d >= 14",
    'event.type == "module_completed" and event.properties.duration_seconds < 30',
    "skip_streak >= 3 or not (idle_hours < 24)",
    'role == "support_specialist" and "team_lead" in roles',
    "module.completion_pct >= 75 or module.slug == null",
    "last_score > 3 and last_score != 7",
    'attributes.department == "support" or attributes.level >= 2',
    "now.hour >= 21 or now.hour < 8",
    "event.properties.plan == null",
    'role in ["support_specialist", "sales"] or attributes.department not in ["support", ""]',
    'last_score in [3, 7, "support"] and event.properties.plan in [null, "support"]',
    '"sup" in attributes.department',
]
VALUE = (
    st.none()
    | st.booleans()
    | st.integers(-5, 200)
    | st.floats(-5, 200, allow_nan=False)
    | st.sampled_from(["support", "module_completed", "support_specialist", ""])
)


@st.composite
def contexts(draw):
    return {
        "roles": draw(st.lists(st.sampled_from(["support_specialist", "team_lead", "sales"]), max_size=3)),
        "role": draw(st.none() | st.sampled_from(["support_specialist", "sales"])),
        "attributes": draw(st.dictionaries(st.sampled_from(["api_access", "department", "level"]), VALUE)),
        **{
            name: draw(VALUE)
            for name in ["avg_module_seconds", "skips", "skip_streak", "idle_hours", "tickets_7d", "last_score"]
        },
        "now": {"hour": draw(st.integers(0, 23)), "weekday": draw(st.integers(1, 7))},
        "module": {
            "slug": draw(st.none() | st.just("welcome")),
            "seconds": draw(VALUE),
            "completion_pct": draw(VALUE),
            "views": 0,
        },
        "event": {
            "type": draw(st.none() | st.just("module_completed")),
            "module": None,
            "properties": draw(st.dictionaries(st.sampled_from(["duration_seconds", "plan"]), VALUE)),
        },
    }


@settings(max_examples=2000, deadline=None)
@given(context=contexts(), index=st.integers(0, len(CONDITIONS) - 1))
def test_closures_agree_with_rule_engine(context, index):
    condition = compile_condition(CONDITIONS[index], VOCABULARY)

    fast, fast_note = condition.evaluate(context)
    slow, slow_note = condition.evaluate_slowly(context)

    assert fast == slow, (CONDITIONS[index], context)
    assert (fast_note is None) == (slow_note is None), (CONDITIONS[index], context, fast_note, slow_note)


def test_every_scenario_condition_runs_on_closures():
    for expression in CONDITIONS:
        assert compile_condition(expression, VOCABULARY)._fast is not None, expression
