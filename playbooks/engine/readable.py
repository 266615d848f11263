"""Reasons a learner reads: a rule's ``explain:`` sentence with the values seen filled in, or, without one, a plain
sentence written from the condition's tree and the vocabulary's descriptions. Never the condition's own text.

An ``explain:`` sentence names values in braces, as conditions name them: ``{avg_module_seconds}``,
``{event.properties.duration_seconds}``, ``{attributes.team}``; ``{{`` and ``}}`` are literal braces.
"""

import re
from collections.abc import Mapping
from typing import Any

from rule_engine import ast

from playbooks.engine.conditions import Condition, ConditionError, Vocabulary, known_names
from playbooks.engine.shapes import did_you_mean

# name → (what it is, to the learner; the unit of its number). Names not here read as their words ("basics minutes").
PHRASES: dict[str, tuple[str, str]] = {
    "roles": ("your roles", ""),
    "role": ("your role", ""),
    "days_enrolled": ("the days since you started", "days"),
    "overdue": ("your current step being overdue", ""),
    "on_schedule": ("your being on schedule", ""),
    "now.hour": ("the hour", ""),
    "now.weekday": ("the day of the week", ""),
    "skips": ("the number of modules you skipped", ""),
    "skip_streak": ("the modules you skipped in a row", ""),
    "completed_modules": ("the number of modules you completed", ""),
    "avg_module_seconds": ("your average time on a module", "seconds"),
    "idle_hours": ("the time since your last activity", "hours"),
    "sessions": ("the number of sessions you had", ""),
    "session_seconds": ("the length of your current session", "seconds"),
    "avg_session_seconds": ("the average length of your sessions", "seconds"),
    "interactions_per_active_day": ("your activity on the days you were active", "per day"),
    "module.slug": ("the module", ""),
    "module.seconds": ("your time on this module", "seconds"),
    "module.completion_pct": ("how much of this module you have done", "%"),
    "module.views": ("the times you opened this module", ""),
    "module.tags": ("the module's topics", ""),
    "event.type": ("what you just did", ""),
    "event.module": ("the module", ""),
    "event.properties.duration_seconds": ("your time on the module", "seconds"),
    "event.properties.score": ("your score", ""),
}
EVENT_WORDS = {
    "module_completed": "completed a module",
    "module_skipped": "skipped a module",
    "module_started": "started a module",
    "module_viewed": "opened a module",
}
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def explain_errors(template: str, vocabulary: Vocabulary) -> list[ConditionError]:
    """Every placeholder of ``template`` that names nothing the vocabulary knows, or a stray brace."""
    errors = []
    for match in _PLACEHOLDER.finditer(template):
        text, column = match.group(), match.start() + 1
        if text in ("{{", "}}"):
            continue
        if match.group(1) is None:
            errors.append(ConditionError(template, f"a lone '{text}' at column {column}; write '{text * 2}'", column))
            continue
        name = match.group(1).strip()
        if not _NAME.match(name) or not _known(name, vocabulary):
            hint = did_you_mean(name, known_names(vocabulary)) or "; use a name a condition may use"
            message = f"unknown name '{name}' in braces at column {column}{hint}"
            errors.append(ConditionError(template, message, column))
    return errors


def _known(name: str, vocabulary: Vocabulary) -> bool:
    head, *rest = name.split(".")
    kind = vocabulary.types.get(head)
    for part in rest:
        if kind is None:
            return False
        if type(kind).__name__ == "_MappingDataTypeDef":
            return True  # attributes.<any key>, event.properties.<any key>
        kind = (getattr(kind, "attributes", None) or {}).get(part)
    return kind is not None


def render_explain(template: str, context: Mapping[str, Any]) -> str:
    """The sentence with each placeholder replaced by the value it names now (a missing value reads "unknown")."""

    def value(match: re.Match) -> str:
        if match.group() in ("{{", "}}"):
            return match.group()[0]
        if match.group(1) is None:
            return match.group()
        return show(lookup(context, match.group(1).strip()))

    return _PLACEHOLDER.sub(value, template)


def lookup(context: Mapping[str, Any], name: str) -> Any:
    value: Any = context
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def show(value: Any, unit: str = "") -> str:
    """A value as a sentence says it: 4 seconds, 2.5 minutes, yes, "support"."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        number, unit = _scaled(float(value), unit)
        shown = f"{number:.0f}" if number == round(number) else f"{number:.1f}"
        return f"{shown}{unit}" if unit == "%" else f"{shown} {unit}".strip()
    if isinstance(value, (list, tuple)):
        return ", ".join(show(item) for item in value) or "none"
    return str(value)


def _scaled(number: float, unit: str) -> tuple[float, str]:
    if unit == "seconds" and number >= 120:
        return (number / 60, "minutes") if number < 7200 else (number / 3600, "hours")
    if unit == "hours" and number >= 48:
        return number / 24, "days"
    if unit in ("seconds", "minutes", "hours", "days") and number == 1:
        return number, unit[:-1]
    return number, unit


def plain_reason(condition: Condition | None, context: Mapping[str, Any]) -> str:
    """ "because your average time on a module was 4 seconds and …": the values the condition read, in its order."""
    clauses = [_clause(name, lookup(context, name)) for name in names_read(condition)] if condition else []
    if not clauses:
        return ""
    return "because " + (clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1])


def _clause(name: str, value: Any) -> str:
    if name == "event.type" and value in EVENT_WORDS:
        return f"you {EVENT_WORDS[value]}"
    phrase, unit = PHRASES.get(name) or (_words(name), "")
    if isinstance(value, bool) and name in ("overdue", "on_schedule"):
        return {"overdue": ("your current step is overdue", "your current step is on time")}.get(
            name, ("you are on schedule", "you are behind schedule")
        )[not value]
    return f"{phrase} was {show(value, unit)}"


def _words(name: str) -> str:
    """``attributes.team`` → "your team"; ``event.properties.level`` → "the level"; ``basics_minutes`` → "your basics
    minutes"."""
    for prefix, owner in (("attributes.", "your"), ("event.properties.", "the"), ("module.", "the module's")):
        if name.startswith(prefix):
            return f"{owner} {name[len(prefix) :].replace('_', ' ')}"
    return "your " + name.replace(".", " ").replace("_", " ")


def names_read(condition: Condition) -> list[str]:
    """The dotted names the condition's parsed tree reads, in reading order, each once."""
    names: list[str] = []
    _walk(condition.tree(), names)
    return names


def _walk(node: Any, names: list[str]) -> None:
    dotted = _dotted(node)
    if dotted is not None:
        if dotted not in names:
            names.append(dotted)
        return
    for child in _children(node):
        _walk(child, names)


def _dotted(node: Any) -> str | None:
    if isinstance(node, ast.SymbolExpression):
        return node.name
    if isinstance(node, ast.GetAttributeExpression):
        owner = _dotted(node.object)
        return f"{owner}.{node.name}" if owner else None
    if isinstance(node, ast.GetItemExpression) and isinstance(node.item, ast.StringExpression):
        owner = _dotted(node.container)
        return f"{owner}.{node.item.value}" if owner else None
    return None


def _children(node: Any) -> list[Any]:
    kids = [getattr(node, name, None) for name in _CHILDREN]
    if isinstance(node, ast.ArrayExpression):
        kids += list(node.value or ())
    return [kid for kid in kids if isinstance(kid, ast.ExpressionBase)]


_CHILDREN = ("condition", "left", "right", "container", "member", "object", "item", "case_true", "case_false")


def choice_text(explain: str | None, condition: Condition | None, context: Mapping[str, Any]) -> str:
    """Why a branch option was taken, for the learner: its ``explain:``, else a sentence from its condition."""
    if explain:
        return render_explain(explain, context)
    if condition is None:
        return "The usual next step of your onboarding."
    return f"Chosen for you {plain_reason(condition, context) or 'by your onboarding'}."


def trigger_text(explain: str | None, condition: Condition, context: Mapping[str, Any]) -> str:
    """Why a trigger acted, for the learner: its ``explain:``, else a sentence from its condition."""
    if explain:
        return render_explain(explain, context)
    return f"Suggested for you {plain_reason(condition, context) or 'by your onboarding'}."


GENERIC = "Chosen for you by your onboarding playbook."
# Rules whose explanation carries no condition text: the path, milestones, steps by tags and the delivery policy.
_READABLE_RULES = ("path", "readiness:", "step '", "delivery policy:", "reminder cancelled", "learner preferences:")


def learner_reason(reason: Mapping[str, Any] | None) -> str:
    """The sentence a learner reads for a stored reason or decision: its ``text``, else (rows from before there was
    one) the explanation where it holds no condition, else a generic sentence."""
    if not reason:
        return ""
    if reason.get("text"):
        return str(reason["text"])
    readable = str(reason.get("rule") or "").startswith(_READABLE_RULES)
    return str(reason.get("explanation") or GENERIC) if readable else GENERIC


def rule_name(rule: str) -> str:
    """``branch 'pace': skips >= 3`` → ``branch 'pace'``: which rule, without its condition."""
    return rule.partition(":")[0]
