"""Parameter values set for one learner (an experiment's arm, a simulated journey's ``params:``) over a version's
declared defaults: checked against the declared parameters, and shown as an arm's label reads them."""

import math
from collections.abc import Mapping
from typing import Any

from playbooks.engine.shapes import did_you_mean, kind_of, text_problem
from playbooks.engine.spec import PARAMETER_TYPES, PlaybookSpec, SpecError

_KIND_WORDS = {"number": "a number", "string": "text", "bool": "true/false"}


def override_errors(spec: PlaybookSpec, values: Any, *, path: str = "parameters") -> list[SpecError]:
    """Why ``values`` cannot run on ``spec``: not a mapping, a name the playbook does not declare, or a value whose
    type is not the declared default's (a number for a number, int or float; text; true/false). Errors name
    ``<path>.<name>``; empty when every value fits."""
    if not isinstance(values, Mapping):
        return [SpecError(path, f"expected a mapping of parameter name to value, got {kind_of(values)}")]
    declared = {parameter.name: parameter for parameter in spec.parameters}
    errors = []
    for name, value in values.items():
        where = f"{path}.{name}"
        parameter = declared.get(name)
        if parameter is None:
            known = ", ".join(declared) or "none"
            hint = did_you_mean(str(name), declared)
            errors.append(SpecError(where, f"'{spec.slug}' declares no parameter {name!r}{hint} (declared: {known})"))
        elif PARAMETER_TYPES.get(type(value)) != parameter.kind:
            expected = _KIND_WORDS.get(parameter.kind or "", "a number, text or true/false")
            errors.append(
                SpecError(
                    where, f"expected {expected}, like its default {_literal(parameter.default)}; got {kind_of(value)}"
                )
            )
        elif problem := _value_problem(value):
            errors.append(SpecError(where, problem))
    return errors


def _value_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a number that can be stored"
    return text_problem(value) if isinstance(value, str) else None


def effective(spec: PlaybookSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values a learner's conditions read: the declared defaults, with ``values`` over them."""
    return {**{parameter.name: parameter.default for parameter in spec.parameters}, **values}


def values_text(values: Mapping[str, Any]) -> str:
    """``fast_threshold=5, offer_fast_track=false``: how an arm's label and a decision show its values."""
    return ", ".join(f"{name}={_shown(value)}" for name, value in values.items())


def _literal(value: Any) -> str:
    return repr(value) if isinstance(value, str) else _shown(value)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
