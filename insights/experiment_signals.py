"""An experiment's outcomes on the playbook's declared signals: each learner's value now, as their version's engine
computes it from their events, summed up per arm and compared with the baseline arm (``stats.compare_means``).

This reads the arms' learners' events (the one part of the Results page that does): it runs when the page or the
API is asked, not in the background.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from numbers import Real
from zoneinfo import ZoneInfo

from identity.models import Learner
from insights.stats import MeanComparison, compare_means
from playbooks.engine.sequences import sequence_count
from playbooks.engine.signals import EventFact, aggregate
from playbooks.models import PlaybookVersion
from playbooks.selectors import compiled_version
from signals_app.models import Event


@dataclass
class SignalOutcome:
    """One declared signal in one arm: the values of the arm's learners who have one (a number)."""

    name: str
    values: list[float] = field(default_factory=list)
    comparison: MeanComparison | None = None  # against the baseline arm

    @property
    def learners(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return sum(self.values) / len(self.values) if self.values else None


def signal_values(
    *, versions: dict[int, PlaybookVersion], learners_by_arm: dict[int, list[int]], now: datetime
) -> dict[int, dict[str, list[float]]]:
    """``arm → signal name → values``: each learner's value of each signal their arm's version declares, at ``now``;
    a learner whose signal has no number yet (an average of nothing, a ``last`` that is text) is left out."""
    compiled = {arm: compiled_version(version=versions[arm]) for arm in learners_by_arm}
    if not any(playbook.signals or playbook.sequences for playbook in compiled.values()):
        return {arm: {} for arm in learners_by_arm}  # nothing declared: no events to read
    learner_ids = [pk for pks in learners_by_arm.values() for pk in pks]
    histories = _histories(learner_ids, now)
    zones = dict(Learner.objects.filter(pk__in=learner_ids).values_list("pk", "timezone"))
    out: dict[int, dict[str, list[float]]] = {}
    for arm, pks in learners_by_arm.items():
        playbook = compiled[arm]
        values: dict[str, list[float]] = {s.name: [] for s in [*playbook.signals, *playbook.sequences]}
        for pk in pks:
            events, zone = histories.get(pk, []), ZoneInfo(zones.get(pk) or "UTC")
            for signal in playbook.signals:
                _keep(values[signal.name], aggregate(events, signal, now=now, zone=zone))
            for sequence in playbook.sequences:
                _keep(values[sequence.name], sequence_count(events, sequence))
        out[arm] = values
    return out


def compare_signals(outcomes: dict[int, dict[str, list[float]]], baseline: int, *, alpha: float) -> dict:
    """``arm → [SignalOutcome]``, the baseline's signals in its order, compared with it (None for the baseline)."""
    names = list(outcomes.get(baseline, {}))
    for values in outcomes.values():
        names += [name for name in values if name not in names]
    result: dict[int, list[SignalOutcome]] = defaultdict(list)
    for arm, values in outcomes.items():
        for name in names:
            outcome = SignalOutcome(name, values.get(name, []))
            if arm != baseline and name in outcomes.get(baseline, {}):
                outcome.comparison = compare_means(outcome.values, outcomes[baseline][name], alpha=alpha)
            result[arm].append(outcome)
    return result


def _keep(values: list[float], value) -> None:
    if isinstance(value, Real) and not isinstance(value, bool):
        values.append(float(value))


def _histories(learner_ids: list[int], now: datetime) -> dict[int, list[EventFact]]:
    rows = (
        Event.objects.filter(learner_id__in=learner_ids, occurred_at__lte=now)
        .order_by("learner_id", "occurred_at", "pk")
        .values_list("learner_id", "type", "occurred_at", "module", "properties")
    )
    histories: dict[int, list[EventFact]] = defaultdict(list)
    for learner_id, kind, occurred_at, module, properties in rows.iterator(chunk_size=5000):
        histories[learner_id].append(EventFact(kind, occurred_at, module or None, properties))
    return histories
