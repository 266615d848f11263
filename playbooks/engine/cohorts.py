"""Cohorts for the simulator: one journey template with value ranges (or a CSV of synthetic learners) expanded into
N concrete journeys, reproducibly from a seed.

A template is a journey (docs/journeys.md) where any value may be a range, and any event may happen only sometimes::

    learners: 200
    seed: 7
    learner: {roles: [support_specialist], attributes: {api_access: {choice: [true, false]}}}
    events:
      - {at: 0m, type: module_completed, module: welcome, properties: {duration_seconds: {between: [20, 200]}}}
      - {at: {between: [2m, 30m]}, type: module_skipped, module: crm-basics, probability: 0.4}

``{between: [low, high]}`` draws uniformly (whole numbers for integers, durations for durations such as 2m);
``{choice: [a, b, ...]}`` picks one; ``probability`` keeps an event with that chance. Events are put back in time
order after drawing. A CSV gives the learners instead (``external_id, roles, timezone`` and ``attributes.NAME``
columns, roles separated by ``;``), one journey each, with the template's events.
"""

import csv
import io
import random
from datetime import timedelta
from typing import Any

from playbooks.engine.durations import DurationError, format_duration, parse_duration
from playbooks.engine.spec import SpecError

MAX_LEARNERS = 10_000
TEMPLATE_KEYS = ("learners", "seed")


class CohortInvalid(Exception):
    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


def expand_cohort(
    template: Any, *, learners: int | None = None, csv_text: str | None = None, only: range | None = None
) -> list[dict[str, Any]]:
    """Concrete journey documents, one per synthetic learner; raises CohortInvalid naming the path at fault.

    ``only`` draws just those learners (numbered from 0), each as the whole cohort draws it: a run spread over
    workers gives each its slice."""
    count, rows = _checked(template, learners, csv_text)
    seed = template.get("seed", 0)
    base = {key: value for key, value in template.items() if key not in TEMPLATE_KEYS}
    journeys = []
    for number in range(count)[only.start : only.stop] if only is not None else range(count):
        rng = random.Random(f"{seed}:{number}")  # noqa: S311 - reproducible synthetic data, not secrets
        journey = _draw(base, rng)
        journey["events"] = _events(journey.get("events"), rng)
        learner = journey.setdefault("learner", {})
        learner["external_id"] = f"{learner.get('external_id', 'cohort')}-{number + 1}"
        if rows is not None:
            row = rows[number]
            learner.update({key: value for key, value in row.items() if key != "attributes"})
            learner["attributes"] = {**(learner.get("attributes") or {}), **row["attributes"]}
        journeys.append(journey)
    return journeys


def cohort_size(template: Any, *, learners: int | None = None, csv_text: str | None = None) -> int:
    """How many learners ``expand_cohort`` would draw (checking the template as it does), without drawing them."""
    return _checked(template, learners, csv_text)[0]


def _checked(template: Any, learners: int | None, csv_text: str | None) -> tuple[int, list[dict[str, Any]] | None]:
    if not isinstance(template, dict):
        raise CohortInvalid([SpecError("template", "expected a journey template (a mapping)")])
    errors: list[SpecError] = []
    if not isinstance(template.get("learner", {}), dict):
        errors.append(SpecError("learner", "expected a mapping such as {external_id: spec, roles: [newcomer]}"))
    _check_ranges(template, "", errors)
    rows = _csv_rows(csv_text, errors) if csv_text else None
    count = len(rows) if rows is not None else learners if learners is not None else template.get("learners", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_LEARNERS:
        errors.append(SpecError("learners", f"expected how many learners to simulate, 1 to {MAX_LEARNERS}"))
    if errors:
        raise CohortInvalid(errors)
    return count, rows


def _draw(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        if set(value) == {"between"}:
            low, high = value["between"]
            if isinstance(low, str):
                seconds = rng.randint(
                    int(parse_duration(low).total_seconds()), int(parse_duration(high).total_seconds())
                )
                return format_duration(timedelta(seconds=seconds))
            if isinstance(low, int) and isinstance(high, int):
                return rng.randint(low, high)
            return round(rng.uniform(low, high), 3)
        if set(value) == {"choice"}:
            return rng.choice(value["choice"])
        return {key: _draw(item, rng) for key, item in value.items()}
    if isinstance(value, list):
        return [_draw(item, rng) for item in value]
    return value


def _events(events: Any, rng: random.Random) -> Any:
    if not isinstance(events, list):
        return events  # the journey parser reports it
    kept = []
    for event in events:
        if isinstance(event, dict) and "probability" in event:
            event = dict(event)
            if rng.random() >= event.pop("probability"):
                continue
        kept.append(event)
    # Stable: events drawn at the same moment keep the template's order.
    return sorted(kept, key=lambda e: _offset(e.get("at")) if isinstance(e, dict) else timedelta(0))


def _offset(value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except DurationError:
        return timedelta(0)  # the journey parser reports it with its path


def _check_ranges(value: Any, path: str, errors: list[SpecError]) -> None:
    if isinstance(value, dict):
        if "between" in value:
            bounds = value["between"]
            if set(value) != {"between"} or not isinstance(bounds, list) or len(bounds) != 2:
                errors.append(SpecError(f"{path}.between", "expected {between: [low, high]}"))
            elif not _ordered(*bounds):
                errors.append(
                    SpecError(f"{path}.between", f"{bounds} is not a range: two numbers or durations, low first")
                )
            return
        if "choice" in value:
            if set(value) != {"choice"} or not isinstance(value["choice"], list) or not value["choice"]:
                errors.append(SpecError(f"{path}.choice", "expected {choice: [one, another, ...]}"))
            return
        probability = value.get("probability")
        if probability is not None and (
            isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 <= probability <= 1
        ):
            errors.append(SpecError(f"{path}.probability", "expected a chance between 0 and 1, e.g. 0.25"))
        for key, item in value.items():
            _check_ranges(item, f"{path}.{key}" if path else str(key), errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_ranges(item, f"{path}[{index}]", errors)


def _ordered(low: Any, high: Any) -> bool:
    if isinstance(low, str) and isinstance(high, str):
        try:
            return parse_duration(low) <= parse_duration(high)
        except DurationError:
            return False
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    return numbers and low <= high


def _csv_rows(text: str, errors: list[SpecError]) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    for column in reader.fieldnames or []:
        if column not in ("external_id", "roles", "timezone") and not column.startswith("attributes."):
            errors.append(
                SpecError(f"csv column '{column}'", "unknown; use external_id, roles, timezone, attributes.NAME")
            )
    rows = []
    for line, row in enumerate(reader, start=2):
        if None in row:
            errors.append(SpecError(f"csv line {line}", "more values than columns"))
            continue
        learner: dict[str, Any] = {"attributes": {}}
        for column, raw in row.items():
            value = (raw or "").strip()
            if column == "external_id" and value:
                learner["external_id"] = value
            elif column == "roles":
                learner["roles"] = [role for role in value.split(";") if role]
            elif column == "timezone" and value:
                learner["timezone"] = value
            elif column.startswith("attributes."):
                learner["attributes"][column.removeprefix("attributes.")] = _typed(value)
        rows.append(learner)
        if len(rows) > MAX_LEARNERS:
            errors.append(SpecError("csv", f"more than {MAX_LEARNERS} learners"))
            break
    if not rows:
        errors.append(SpecError("csv", "no learners: a header line and one line per learner"))
    return rows


def _typed(value: str) -> Any:
    """CSV cells are text; conditions compare booleans and numbers."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value or None
