"""The one YAML loader for user input: what a hostile document uses against the platform is refused quickly, with
the line and column and what to change, as PlaybookInvalid (never a traceback)."""

import pytest
import yaml

from playbooks.engine.document import (
    JOURNEY_YAML,
    MAX_YAML_DEPTH,
    PLAYBOOK_YAML,
    YamlKind,
    load_yaml,
)
from playbooks.engine.shapes import value_problem, web_url_problem
from playbooks.engine.spec import PlaybookInvalid
from tests.playbooks.engine.replay import SCENARIOS
from tests.utils import CpuSeconds


def alias_bomb(levels: int = 9, width: int = 55) -> str:
    """A "billion laughs": under 3 KB of text, width ** levels strings once expanded (4.6 * 10 ** 15 here)."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def refusal(text: str, kind: YamlKind = PLAYBOOK_YAML) -> tuple[str, float]:
    """The error, and the CPU seconds the loader spent refusing it."""
    with CpuSeconds() as spent, pytest.raises(PlaybookInvalid) as caught:
        load_yaml(text, kind)
    assert len(caught.value.errors) == 1
    return str(caught.value.errors[0]), spent.seconds


def test_the_alias_bomb_is_refused_at_its_first_anchor():
    bomb = alias_bomb()
    assert 2_000 < len(bomb) < 3_000

    message, seconds = refusal(bomb)

    assert message == "line 1, column 5: YAML aliases (&anchor / *alias) are not allowed; write the value out in full"
    assert seconds < 0.1


def test_an_alias_to_a_scalar_is_refused_too():
    message, _ = refusal("name: &n Support\ntitle: *n\n")

    assert message.startswith("line 1, column 7: YAML aliases")


def test_a_duplicate_key_is_refused_naming_the_key_and_both_lines():
    message, _ = refusal("slug: a\nsteps:\n  - module: welcome\n    id: one\n    module: crm-basics\n")

    assert message == "line 5, column 5: duplicate key 'module' (first at line 3): give each key once"


def test_merge_keys_are_refused():
    message, _ = refusal("a: {<<: {x: 1}, y: 2}\n")

    assert "merge keys (<<) are not allowed" in message


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1_000_000,  # flow: far past Python's recursion limit
        "{a: " * 200_000,
        "".join(f"{'  ' * depth}- \n" for depth in range(MAX_YAML_DEPTH + 5)),  # block, by indentation
        "- " * 400_000,
    ],
    ids=["brackets", "braces", "block", "dashes"],
)
def test_deep_nesting_is_refused_while_composing_without_recursion(text):
    message, seconds = refusal(text)

    assert message.endswith(f"nested more than {MAX_YAML_DEPTH} levels deep")
    assert seconds < 1


def test_nesting_up_to_the_limit_loads():
    text = "[" * MAX_YAML_DEPTH + "1" + "]" * MAX_YAML_DEPTH

    value = load_yaml(text)

    for _ in range(MAX_YAML_DEPTH - 1):
        value = value[0]
    assert value == [1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("slug: p\nname: a\x00b\n", "line 2, column 8: the control character U+0000 (NUL) is not allowed in YAML"),
        ("slug: p\nname: a\x1bb\n", "line 2, column 8: the control character U+001B (escape) is not allowed in YAML"),
        ('slug: p\nname: "a\\0b"\n', "line 2, column 7: the control character U+0000 (NUL) is not allowed in text"),
        ('name: "\\x07"\n', "line 1, column 7: the control character U+0007 is not allowed in text"),
        ('name: "\\ud800"\n', "line 1, column 7: the lone surrogate U+D800 (not valid Unicode) is not allowed"),
        ('"a\\0": 1\n', "line 1, column 1: the control character U+0000 (NUL) is not allowed in text"),
    ],
    ids=["raw-nul", "raw-escape", "escaped-nul", "escaped-bell", "escaped-surrogate", "key"],
)
def test_control_characters_are_refused_with_line_and_column(text, expected):
    message, _ = refusal(text)

    assert message.startswith(expected)


def test_tabs_and_line_breaks_are_text():
    assert load_yaml('body: "a\\tb\\nc"\n') == {"body": "a\tb\nc"}


def test_a_document_over_the_size_limit_is_refused_before_parsing():
    text = "slug: p\ndescription: " + "x" * 10_000_000 + "\n"

    message, seconds = refusal(text)

    assert message == (
        "a playbook file is at most 1 MB (1,000,000 bytes); this one is 10,000,022 bytes: "
        "split it or leave out what it does not need"
    )
    assert seconds < 0.5


def test_the_size_is_counted_in_utf8_bytes():
    text = "description: " + "é" * 600_000  # 600,000 characters, 1.2 MB

    message, _ = refusal(text)

    assert "this one is 1,200,013 bytes" in message


def test_too_many_values_are_refused_while_composing():
    small = YamlKind("a test document", 1_000_000, 1_000)
    text = "[" + ",".join(["1"] * 2_000) + "]"  # 4 KB: under the size limit, 2,001 values

    message, _ = refusal(text, small)

    assert (
        message
        == "line 1, column 2000: a test document holds at most 1,000 values (texts, numbers, lists and mappings)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: .inf\n", "'.inf' is not a finite number"),
        ("a: .NaN\n", "'.NaN' is not a finite number"),
        ("a: 1.0e+999\n", "'1.0e+999' is not a finite number"),
        ("a: " + "1" * 5_000 + "\n", "as a whole number: Exceeds the limit (4300 digits)"),
        ("a: !!binary aGVsbG8=\n", "the tag 'tag:yaml.org,2002:binary' is not allowed"),
        ("a: !!set {x, y}\n", "the tag 'tag:yaml.org,2002:set' is not allowed"),
        ("a: !!python/object/apply:os.system [ls]\n", "the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
        ("? [a, b]\n: 1\n", "a key must be text or a number"),
        ("a: !!bool maybe\n", "cannot read 'maybe' as true/false"),
        ('a: !!int ""\n', "cannot read '' as a whole number"),
    ],
    ids=["inf", "nan", "overflow", "huge-int", "binary", "set", "python", "list-key", "bad-bool", "empty-int"],
)
def test_values_a_json_column_cannot_hold_are_refused(text, expected):
    message, _ = refusal(text)

    assert message.startswith("line 1, column ")
    assert expected in message


def test_timestamps_stay_the_text_written():
    assert load_yaml("start: 2026-03-02T09:00:00Z\nday: 2026-02-30\n") == {
        "start": "2026-03-02T09:00:00Z",
        "day": "2026-02-30",
    }


def test_malformed_yaml_still_says_where():
    message, _ = refusal("slug: p\nsteps: [\n  {module: a\n")

    assert message.startswith("malformed YAML at line 4, column 1:")


def test_the_public_playbook_loads_as_yaml_safe_load_reads_it():
    text = (SCENARIOS / "support-specialist" / "playbook.yaml").read_text()

    assert load_yaml(text, PLAYBOOK_YAML) == yaml.safe_load(text)


def test_a_10000_event_journey_fits_the_journey_limits():
    events = "".join(
        f"  - at: {n}s\n    type: module_started\n    module: welcome\n    properties:\n      duration_seconds: {n}\n"
        for n in range(10_000)
    )
    text = f"learner: {{external_id: x}}\nstart: '2026-03-02T09:00:00Z'\nevents:\n{events}"
    assert len(text.encode()) <= JOURNEY_YAML.max_bytes

    assert len(load_yaml(text, JOURNEY_YAML)["events"]) == 10_000


def test_value_problem_walks_any_depth_without_recursion():
    deep: dict = {}
    for _ in range(100_000):
        deep = {"k": [deep]}

    assert value_problem(deep) == (
        "k[0].k[0].k[0].k[0]",
        "nested more than 8 levels deep; keep values flat (name: value)",
    )
    assert value_problem({"a": {"b": ["ok", "x\x00"]}}) == (
        "a.b[1]",
        "contains the character U+0000, which is not allowed in text",
    )
    assert value_problem({"n": float("nan")}) == ("n", "nan is not a finite number")
    assert value_problem({"a": [1, {"b": "two"}], "c": None}) is None


@pytest.mark.parametrize("url", ["https://example.com/guide", "http://intranet.example/a?b=c#d", "HTTPS://EXAMPLE.COM"])
def test_web_addresses_are_module_urls(url):
    assert web_url_problem(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>",
        "ftp://example.com/x",
        "//example.com",
        "example.com/guide",
        "https://",
        "http://[::1",
    ],
)
def test_other_module_urls_are_refused(url):
    problem = web_url_problem(url)

    assert problem is not None and "http:// or https://" in problem
