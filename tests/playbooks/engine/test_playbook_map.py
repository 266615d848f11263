"""The playbook map's pure parts: decision-log rules matched to options and triggers, counts keyed for drawing, a
simulated journey's route, and the layout (every element placed, inside the drawing, nothing overlapping)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks.engine.document import load_yaml, spec_from_document
from playbooks.engine.map_layout import CHAR_W, OPTION_X, PAD, STEP_W, WIDTH, fit, playbook_diagram, wrap
from playbooks.engine.playbook_map import MapCounts, MapRoute, counts_from_rows, option_for_rule, route_from_timeline
from playbooks.engine.spec import BranchOption, ModuleSpec, PlaybookSpec, StepSpec, TriggerSpec
from tests.playbooks.engine.replay import SCENARIOS

SPECIALIST = spec_from_document(load_yaml((SCENARIOS / "support-specialist" / "playbook.yaml").read_text()))
TRACK = SPECIALIST.steps[4]
LAB = """
slug: lab
name: Lab
modules:
  - {slug: intro, title: Intro}
  - {slug: api-lab, title: The API lab, tags: [lab]}
  - {slug: extra, title: Extra}
  - {slug: wrap-up, title: Wrap-up}
steps:
  - module: intro
  - id: fork
    branch:
      - {when: 'attributes.senior == true', goto: finale}
      - {otherwise: extra}
  - module: {tags: [lab]}
    id: lab-pick
  - id: finale
    module: wrap-up
    required: true
triggers:
  - name: lab exit
    when: 'event.type == "module_exited"'
    then:
      - wait:
          event: module_started
          key: module
          within: 2m
          then: [{flag: came_back}]
          else: [{remind: {channel: in_app, template: pick_up}}, goto: finale]
      - {insert_module: extra}
"""
LAB_SPEC = spec_from_document(load_yaml(LAB))


def test_a_branch_rule_names_its_option_even_when_two_options_give_the_same_module():
    assert option_for_rule(TRACK, "branch 'specialist-track': avg_module_seconds >= 120") == 2
    assert option_for_rule(TRACK, "branch 'specialist-track': otherwise") == 3
    assert TRACK.branch[1].module == TRACK.branch[3].module
    assert option_for_rule(TRACK, "branch 'specialist-track': skips > 99") is None  # an option since edited
    assert option_for_rule(TRACK, "branch 'escalation': otherwise") is None
    assert option_for_rule(LAB_SPEC.steps[2], "step 'lab-pick': tags lab") is None


def test_counts_are_keyed_by_step_option_trigger_and_wait_arm():
    exit_rule = "trigger 'lab exit': event.type == \"module_exited\""
    counts = counts_from_rows(
        LAB_SPEC,
        at_step={"intro": 4, "fork": 2, "": 3, "gone-step": 1},
        completed_modules={"intro": 6, "wrap-up": 1, "extra": 9},
        branch_rules={("fork", "branch 'fork': attributes.senior == true"): 2, ("fork", "branch 'fork': otherwise"): 3},
        trigger_rules={exit_rule: 5, "trigger 'renamed': x > 1": 7},
        wait_rules={(exit_rule, "module_started", "came"): 2, (exit_rule, "module_started", "timed_out"): 3},
        completed=1,
    )

    assert counts.at_step == {"intro": 4, "fork": 2}
    assert counts.elsewhere == 4  # an inserted module (no step), and a step the version no longer has
    assert counts.done == {"intro": 6, "finale": 1}  # module steps only: extra is a branch option's module
    assert counts.options == {("fork", 0): 2, ("fork", 1): 3}
    assert counts.triggers == {"lab exit": 5}
    assert counts.waits == {("lab exit", 0, "came"): 2, ("lab exit", 0, "timed_out"): 3}
    assert counts.completed == 1


def test_a_simulated_journey_becomes_a_route():
    fired = {"kind": "trigger", "status": "fired", "rule": "trigger 'skip streak review': skip_streak >= 3"}
    timeline = [
        {"kind": "enrolled", "module": "welcome", "rule": "path"},
        {"kind": "event", "type": "module_skipped", "module": "crm-basics"},
        {"kind": "next_module", "module": "ticketing-101", "rule": "path"},
        {"kind": "trigger", "status": "suppressed", "rule": "trigger 'remedial demo': x"},
        fired,
        {"kind": "branch", "step": "specialist-track", "rule": "branch 'specialist-track': otherwise"},
    ]
    final = {"status": "active", "next_module": "standard-api-troubleshooting", "completed": ["welcome"]}

    route = route_from_timeline(SPECIALIST, timeline, final)

    assert route.steps == {"welcome", "ticketing-101", "specialist-track"}
    assert route.options == {("specialist-track", 3)}
    assert route.triggers == {"skip streak review"}
    assert (route.at, route.completed) == ("specialist-track", False)
    ended = route_from_timeline(SPECIALIST, timeline, {"status": "completed", "next_module": None})
    assert (ended.at, ended.completed) == (None, True)


def test_a_wait_outcome_is_on_the_route():
    timeline = [
        {
            "kind": "wait",
            "status": "timed_out",
            "rule": "trigger 'lab exit': event.type == \"module_exited\"",
            "values": {"waited_for": "module_started"},
        }
    ]
    assert route_from_timeline(LAB_SPEC, timeline, {}).waits == {("lab exit", 0, "timed_out")}


def _boxes(diagram):
    return {box.key: box for box in diagram.boxes}


def test_every_step_option_trigger_and_wait_arm_is_drawn_with_its_counts():
    counts = MapCounts(
        at_step={"fork": 2},
        done={"intro": 6},
        options={("fork", 1): 3},
        triggers={"lab exit": 5},
        waits={("lab exit", 0, "came"): 2},
        completed=1,
    )

    boxes = _boxes(playbook_diagram(LAB_SPEC, counts=counts))

    assert set(boxes) == {
        "step:intro",
        "step:fork",
        "step:lab-pick",
        "step:finale",
        "option:fork:0",
        "option:fork:1",
        "end",
        "trigger:lab exit",
        "wait:lab exit:0:came",
        "wait:lab exit:0:timed_out",
    }
    badges = {key: {b.cls: b.count for b in box.badges} for key, box in boxes.items()}
    assert badges["step:fork"] == {"now": 2}
    assert badges["step:intro"] == {"now": 0, "done": 6}
    assert badges["option:fork:1"] == {"took": 3}
    assert badges["trigger:lab exit"] == {"fired": 5}
    assert badges["wait:lab exit:0:came"] == {"took": 2} and badges["wait:lab exit:0:timed_out"] == {"took": 0}
    assert badges["end"] == {"done": 1}
    texts = {key: [t.text for t in box.texts] for key, box in boxes.items()}
    assert texts["option:fork:0"] == ["if attributes.senior == true", "⤵ go to step finale"]
    assert texts["step:lab-pick"][1] == "picks a module tagged lab"
    assert texts["step:finale"][1] == "wrap-up: Wrap-up · required"
    assert texts["wait:lab exit:0:timed_out"] == ["timed out", "remind by in_app: pick_up", "go to step finale"]
    assert "→ wait up to 2m for module_started, same module" in texts["trigger:lab exit"]


def test_without_counts_there_are_no_badges_and_a_route_marks_what_it_went_through():
    route = MapRoute(
        steps=frozenset({"intro", "fork"}),
        options=frozenset({("fork", 0)}),
        triggers=frozenset({"lab exit"}),
        waits=frozenset({("lab exit", 0, "came")}),
        at="finale",
    )

    diagram = playbook_diagram(LAB_SPEC, route=route)

    boxes = _boxes(diagram)
    marked = {key for key, box in boxes.items() if " route" in f" {box.cls}"}
    assert marked == {"step:intro", "step:fork", "option:fork:0", "wait:lab exit:0:came"}
    assert "at" in boxes["step:finale"].cls.split() and "fired" in boxes["trigger:lab exit"].cls.split()
    assert [b.text for b in boxes["step:finale"].badges] == ["ended here"]
    assert [b.text for b in boxes["trigger:lab exit"].badges] == ["fired"]
    assert not any(box.badges for key, box in boxes.items() if key not in ("step:finale", "trigger:lab exit"))
    goto = next(edge for edge in diagram.edges if "map-goto" in edge.cls)
    assert "route" in goto.cls.split()


def test_a_goto_enters_the_step_it_jumps_to():
    diagram = playbook_diagram(LAB_SPEC)
    (goto,) = [edge for edge in diagram.edges if "map-goto" in edge.cls]
    finale = _boxes(diagram)["step:finale"]
    # M<option's left> <y> H<lane> V<into the target> H<the target's right side>
    _, _, lane, down, into = goto.d.split()
    assert OPTION_X - 60 < float(lane[1:]) < OPTION_X
    assert finale.y < float(down[1:]) < finale.y + finale.height
    assert float(into[1:]) == PAD + STEP_W + 2


def test_a_draft_whose_goto_names_no_step_is_still_drawn():
    broken = PlaybookSpec(
        slug="d",
        name="D",
        steps=(
            StepSpec(module="a"),
            StepSpec(id="b", branch=(BranchOption(when=None, goto="nowhere"),)),
        ),
    )

    diagram = playbook_diagram(broken)

    assert "no step 'nowhere'" in [label.text for label in diagram.labels]
    assert not [edge for edge in diagram.edges if "map-goto" in edge.cls]


def test_what_an_included_block_brought_says_so():
    spec = PlaybookSpec(
        slug="b",
        name="B",
        modules=(ModuleSpec("security-101", "Security 101"),),
        steps=(StepSpec(module="security-101", origin="security-basics"), StepSpec(block="unreadable")),
        triggers=(TriggerSpec(name="phishing help", when="quiz_fails >= 2", then=(), origin="security-basics"),),
    )

    texts = {box.key: [t.text for t in box.texts] for box in playbook_diagram(spec).boxes}

    assert texts["step:security-101"][1] == "Security 101 · from block security-basics"
    assert texts["step:"][1] == "block unreadable, not expanded"
    assert "from block security-basics" in texts["trigger:phishing help"]


def test_a_new_draft_with_no_steps_is_the_end_alone():
    diagram = playbook_diagram(PlaybookSpec(slug="d", name="D"), counts=MapCounts())

    assert [box.key for box in diagram.boxes] == ["end"] and not diagram.edges


def test_text_is_cut_to_its_box_with_an_ellipsis():
    assert fit("short", 100) == "short"
    assert fit("x" * 50, 10 * CHAR_W) == "x" * 9 + "…"
    assert wrap("one two three four", 9 * CHAR_W, 2) == ["one two", "three fo…"]
    assert wrap("one two", 100, 2) == ["one two"]


_names = st.from_regex(r"[a-z]{1,30}", fullmatch=True)
_conditions = st.text(st.sampled_from("abc <>=.12 and"), min_size=1, max_size=200)


@st.composite
def _specs(draw) -> PlaybookSpec:
    keys = draw(st.lists(_names, min_size=1, max_size=12, unique=True))
    steps = []
    for index, key in enumerate(keys):
        if draw(st.booleans()):
            later = keys[index + 1 :] or ["missing"]
            options = [
                BranchOption(when=draw(_conditions), goto=draw(st.sampled_from(later)))
                for _ in range(draw(st.integers(0, 5)))
            ]
            steps.append(StepSpec(id=key, branch=(*options, BranchOption(when=None, module=draw(_names)))))
        else:
            steps.append(StepSpec(module=key, required=draw(st.booleans())))
    triggers = tuple(
        TriggerSpec(name=f"{name}-{n}", when=draw(_conditions), then=())
        for n, name in enumerate(draw(st.lists(_names, max_size=5)))
    )
    return PlaybookSpec(slug="s", name="S", steps=tuple(steps), triggers=triggers)


@settings(max_examples=60, deadline=None)
@given(_specs())
def test_any_playbook_is_laid_out_inside_the_drawing_without_overlaps(spec):
    counts = MapCounts(at_step={s.key: 12345 for s in spec.steps}, done={s.key: 999 for s in spec.steps})
    diagram = playbook_diagram(spec, counts=counts)

    for box in diagram.boxes:
        assert box.x >= 0 and box.x + box.width <= WIDTH and box.y >= 0 and box.y + box.height <= diagram.height
        for text in box.texts:  # the estimated width of every line stays inside its box
            assert text.x + len(text.text) * CHAR_W <= box.x + box.width + CHAR_W, text.text
        for badge in box.badges:
            assert box.x < badge.x and badge.x + badge.width <= box.x + box.width
    top_level = [box for box in diagram.boxes if not box.key.startswith("wait:")]
    for n, one in enumerate(top_level):
        for other in top_level[n + 1 :]:
            apart = (
                one.x + one.width <= other.x
                or other.x + other.width <= one.x
                or one.y + one.height <= other.y
                or other.y + other.height <= one.y
            )
            assert apart, (one.key, other.key)
