"""The dashboards' figures, read from the rollups only (never from events or enrolments), a query or two each."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Exists, OuterRef, QuerySet, Subquery, Sum

from identity.models import RoleAssignment
from insights.models import (
    ActivityMetric,
    ActivityRollup,
    EnrollmentRollup,
    HistogramMetric,
    HistogramRollup,
    ModuleRollup,
    Survey,
)
from insights.services.partitions import step_keys
from insights.sketch import percentile
from playbooks.models import ContentModule, Enrollment, Playbook, PlaybookVersion, VersionModule, VersionStatus
from signals_app.event_input import SURVEY_ANSWERED, SURVEY_SCORES
from signals_app.models import Event

DEFAULT_SKIP_THRESHOLD = 0.3
LOW_SURVEY_SCORE = 3.0  # averages below it are called out
LATEST_COMMENTS = 3


@dataclass(frozen=True)
class Filters:
    playbook: Playbook
    version: PlaybookVersion | None = None
    role: str = ""
    start: date | None = None
    end: date | None = None
    skip_threshold: float = DEFAULT_SKIP_THRESHOLD

    def scope(self, queryset: QuerySet) -> QuerySet:
        queryset = queryset.filter(playbook=self.playbook)
        if self.version is not None:
            queryset = queryset.filter(version=self.version)
        if self.role:
            queryset = queryset.filter(role=self.role)
        if self.start:
            queryset = queryset.filter(day__gte=self.start)
        if self.end:
            queryset = queryset.filter(day__lte=self.end)
        return queryset


@dataclass(frozen=True)
class Cell:
    value: object
    drill: dict[str, str] | None = None  # the learner list behind the number: its figure and parameters


@dataclass
class Figure:
    slug: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    bars: list[tuple[str, float, str]] = field(default_factory=list)  # label, value, text shown
    target: list[float | None] = field(default_factory=list)  # per bar, a mark (e.g. expected minutes)
    callouts: list[str] = field(default_factory=list)
    note: str = ""


def dashboard_figures(*, filters: Filters) -> list[Figure]:
    return [figure(filters) for figure in FIGURES.values()]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _versions(filters: Filters, ids: Iterable[int]) -> dict[int, str]:
    numbers = PlaybookVersion.objects.filter(playbook=filters.playbook, pk__in=set(ids)).values_list("pk", "number")
    return {pk: f"v{number}" for pk, number in numbers}


def completion(filters: Filters) -> Figure:
    rows = list(
        filters.scope(EnrollmentRollup.objects)
        .values("version")
        .annotate(enrolled=Sum("enrolled"), completed=Sum("completed"), ended=Sum("ended"))
        .order_by("version")
    )
    names = _versions(filters, (r["version"] for r in rows))
    total = {k: sum(r[k] for r in rows) for k in ("enrolled", "completed", "ended")}
    figure = Figure("completion", "Completion rate", ["version", "enrolled", "completed", "ended", "completion rate"])
    for label, row, version in [*((names[r["version"]], r, str(r["version"])) for r in rows), ("all", total, "")]:
        rate = _rate(row["completed"], row["enrolled"])
        figure.rows.append(
            [
                Cell(label),
                Cell(row["enrolled"], {"figure": "enrolled", "version": version}),
                Cell(row["completed"], {"figure": "completed", "version": version}),
                Cell(row["ended"], {"figure": "ended", "version": version}),
                Cell(rate),
            ]
        )
        figure.bars.append((label, rate or 0.0, f"{rate:.0%}" if rate is not None else "-"))
    figure.note = "Of the learners enrolled in the date range, the share who have completed the playbook."
    return figure


def _histogram(filters: Filters, metric: str) -> dict[int | None, list[tuple[int, int]]]:
    counts = (
        filters.scope(HistogramRollup.objects)
        .filter(metric=metric)
        .values_list("version", "bucket")
        .annotate(n=Sum("count"))
        .order_by("version", "bucket")
    )
    by_version: dict[int | None, list[tuple[int, int]]] = defaultdict(list)
    for version, bucket, n in counts:
        by_version[version].append((bucket, n))
        by_version[None].append((bucket, n))
    return by_version


def _percentiles(filters: Filters, metric: str, slug: str, title: str, qs: tuple[float, float], drill: str) -> Figure:
    by_version = _histogram(filters, metric)
    names = _versions(filters, (v for v in by_version if v is not None))
    labels = [f"p{round(q * 100)}" for q in qs]
    figure = Figure(slug, title, ["version", "n", *labels])
    if not by_version:
        return figure
    for version in [*sorted(v for v in by_version if v is not None), None]:
        counts = by_version.get(version, [])
        values = [percentile(counts, q) for q in qs]
        label = names[version] if version is not None else "all"
        n = sum(count for _b, count in counts)
        drill_args = {"figure": drill, "version": str(version) if version else ""}
        figure.rows.append([Cell(label), Cell(n, drill_args), *(Cell(_round(v)) for v in values)])
        figure.bars.append((f"{label} {labels[0]}", values[0] or 0.0, _round_text(values[0])))
        figure.bars.append((f"{label} {labels[1]}", values[1] or 0.0, _round_text(values[1])))
    return figure


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _round_text(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def time_to_competency(filters: Filters) -> Figure:
    figure = _percentiles(
        filters,
        HistogramMetric.TIME_TO_COMPETENCY,
        "time-to-competency",
        "Time to competency (hours)",
        (0.5, 0.9),
        "completed",
    )
    for row in figure.rows:  # seconds → hours, for reading; the rollup keeps seconds
        row[2:] = [Cell(_round(c.value / 3600) if c.value is not None else None) for c in row[2:]]
    figure.bars = [(label, value / 3600, _round_text(value / 3600)) for label, value, _t in figure.bars]
    figure.columns = ["version", "completed", "median (hours)", "p90 (hours)"]
    figure.note = "From enrolment to completion (no readiness milestone yet), nearest rank, within 1 %."
    return figure


def latency(filters: Filters) -> Figure:
    figure = _percentiles(
        filters, HistogramMetric.LATENCY, "latency", "Event to decision latency (ms)", (0.5, 0.95), "evaluated"
    )
    figure.columns = ["version", "events", "p50 (ms)", "p95 (ms)"]
    figure.note = "From an event's receipt to its evaluation (the decisions' commit), by the day decided."
    return figure


def _modules(filters: Filters, version: PlaybookVersion | None = None) -> list[dict]:
    queryset = filters.scope(ModuleRollup.objects)
    if version is not None:
        queryset = queryset.filter(version=version)
    return list(
        queryset.values("step", "module")
        .annotate(
            reached=Sum("reached"),
            completed=Sum("completed"),
            skipped=Sum("skipped"),
            timed=Sum("timed"),
            seconds=Sum("seconds"),
        )
        .order_by("step", "module")
    )


def funnel_version(filters: Filters) -> PlaybookVersion | None:
    """The version a funnel follows: the one filtered on, else the published one, else the newest."""
    if filters.version is not None:
        return filters.version
    versions = PlaybookVersion.objects.filter(playbook=filters.playbook).order_by("-number")
    return next((v for v in versions if v.status == VersionStatus.PUBLISHED), None) or versions.first()


def funnel(filters: Filters) -> Figure:
    version = funnel_version(filters)
    figure = Figure(
        "funnel", "Drop-off funnel per step", ["step", "module", "reached", "completed", "skipped", "did not go on"]
    )
    if version is None:
        return figure
    order = list(dict.fromkeys(step_keys({version.pk}).values()))
    by_step: dict[str, list[dict]] = defaultdict(list)
    for row in _modules(filters, version):
        by_step[row["step"]].append(row)
    reached = [sum(r["reached"] for r in by_step.get(step, [])) for step in order]
    for index, step in enumerate(order):
        rows = by_step.get(step, [])
        passed = sum(r["completed"] + r["skipped"] for r in rows)
        after = reached[index + 1] if index + 1 < len(order) else passed
        modules = ", ".join(r["module"] for r in rows) or "-"
        drill = {"version": str(version.pk), "module": rows[0]["module"]} if len(rows) == 1 else None
        figure.rows.append(
            [
                Cell(step),
                Cell(modules),
                Cell(reached[index], drill and {**drill, "figure": "module_reached"}),
                Cell(sum(r["completed"] for r in rows), drill and {**drill, "figure": "module_completed"}),
                Cell(sum(r["skipped"] for r in rows), drill and {**drill, "figure": "module_skipped"}),
                Cell(max(reached[index] - after, 0)),
            ]
        )
        figure.bars.append((step, reached[index], str(reached[index])))
    figure.note = f"Along {version}'s path; a step is reached when its module has any progress."
    return figure


def _by_module(filters: Filters) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in _modules(filters):
        for name in ("reached", "completed", "skipped", "timed", "seconds"):
            totals[row["module"]][name] += row[name]
    return totals


def skip_rate(filters: Filters) -> Figure:
    totals = _by_module(filters)
    figure = Figure(
        "skip-rate", "Skip rate per module (content relevance)", ["module", "reached", "skipped", "skip rate"]
    )
    rated = sorted(((_rate(t["skipped"], t["reached"]) or 0.0, module) for module, t in totals.items()), reverse=True)
    version = str(filters.version.pk) if filters.version else ""
    for rate, module in rated:
        drill = {"module": module, "version": version}
        figure.rows.append(
            [
                Cell(module),
                Cell(totals[module]["reached"], {**drill, "figure": "module_reached"}),
                Cell(totals[module]["skipped"], {**drill, "figure": "module_skipped"}),
                Cell(rate),
            ]
        )
        figure.bars.append((module, rate, f"{rate:.0%}"))
        if rate > filters.skip_threshold:
            figure.callouts.append(f"{module}: {rate:.0%} of the learners who reached it skipped it.")
    figure.note = f"Modules skipped by more than {filters.skip_threshold:.0%} of those who reached them are called out."
    return figure


def time_per_module(filters: Filters) -> Figure:
    totals = _by_module(filters)
    expected = dict(ContentModule.objects.filter(slug__in=list(totals)).values_list("slug", "minutes"))
    figure = Figure(
        "time-per-module",
        "Time spent per module (minutes)",
        ["module", "completed with a time", "mean minutes", "expected minutes", "ratio"],
    )
    version = str(filters.version.pk) if filters.version else ""
    for module in sorted(totals):
        timed, seconds = totals[module]["timed"], totals[module]["seconds"]
        mean = round(seconds / timed / 60, 1) if timed else None
        minutes = expected.get(module)
        ratio = round(mean / minutes, 2) if mean is not None and minutes else None
        drill = {"figure": "module_completed", "module": module, "version": version}
        figure.rows.append([Cell(module), Cell(timed, drill), Cell(mean), Cell(minutes), Cell(ratio)])
        figure.bars.append((module, mean or 0.0, "-" if mean is None else f"{mean}"))
        figure.target.append(minutes)
    figure.note = (
        "The mean time reported on completed modules (a completion with no time is left out), against the module's "
        "expected minutes."
    )
    return figure


def triggers(filters: Filters) -> Figure:
    counts = (
        filters.scope(ActivityRollup.objects)
        .filter(metric__in=[ActivityMetric.TRIGGER_FIRED, ActivityMetric.TRIGGER_HELD])
        .values_list("name", "metric")
        .annotate(n=Sum("count"))
        .order_by("name", "metric")
    )
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, metric, n in counts:
        table[name][metric] = n
    version = str(filters.version.pk) if filters.version else ""
    figure = Figure("triggers", "Triggers fired and held back", ["trigger", "fired", "held back"])
    for name, row in sorted(table.items()):
        fired, held = row[ActivityMetric.TRIGGER_FIRED], row[ActivityMetric.TRIGGER_HELD]
        figure.rows.append(
            [
                Cell(name),
                Cell(fired, {"figure": ActivityMetric.TRIGGER_FIRED, "name": name, "version": version}),
                Cell(held, {"figure": ActivityMetric.TRIGGER_HELD, "name": name, "version": version}),
            ]
        )
        figure.bars.append((name, fired, f"{fired} fired, {held} held back"))
    figure.note = "Held back: the condition held but a limit or cooldown stopped it. By the day decided."
    return figure


REMINDER_OUTCOMES = {
    ActivityMetric.REMINDER_SENT: "sent",
    ActivityMetric.REMINDER_SCHEDULED: "waiting",
    ActivityMetric.REMINDER_SENDING: "sending",
    ActivityMetric.REMINDER_SUPPRESSED: "suppressed",
    ActivityMetric.REMINDER_DEAD: "failed",
    ActivityMetric.REMINDER_CANCELLED: "cancelled",
}


def reminders(filters: Filters) -> Figure:
    counts = (
        filters.scope(ActivityRollup.objects)
        .filter(metric__in=list(REMINDER_OUTCOMES))
        .values_list("name", "metric")
        .annotate(n=Sum("count"))
        .order_by("name", "metric")
    )
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for channel, metric, n in counts:
        table[channel][metric] = n
    version = str(filters.version.pk) if filters.version else ""
    figure = Figure("reminders", "Reminders by channel", ["channel", *REMINDER_OUTCOMES.values()])
    for channel, row in sorted(table.items()):
        cells = [
            Cell(row[metric], {"figure": metric, "name": channel, "version": version}) for metric in REMINDER_OUTCOMES
        ]
        figure.rows.append([Cell(channel), *cells])
        figure.bars.append((channel, row[ActivityMetric.REMINDER_SENT], f"{row[ActivityMetric.REMINDER_SENT]} sent"))
    figure.note = "Sent counts under the channel that delivered it; the others under the channel asked for."
    return figure


def _survey_answers(filters: Filters) -> list[tuple[int, str, dict, object]]:
    """Each learner's latest answer per module of the playbook, as ``(learner, module, properties, when)``.

    Read from the events, not a rollup: answers are at most one a learner per module (a later one replaces it),
    found through the (type, occurred_at) index, so this stays small however large the event stream grows."""
    versions = [filters.version] if filters.version else list(filters.playbook.versions.all())
    modules = VersionModule.objects.filter(version__in=versions).values("module__slug")
    enrolled = Enrollment.objects.filter(learner=OuterRef("learner"), playbook=filters.playbook)
    if filters.version is not None:
        enrolled = enrolled.filter(version=filters.version)
    answers = Event.objects.filter(type=SURVEY_ANSWERED, module__in=modules).filter(Exists(enrolled))
    if filters.role:
        primary = RoleAssignment.objects.filter(learner=OuterRef("learner")).order_by("created_at", "pk")
        answers = answers.alias(primary_role=Subquery(primary.values("role__slug")[:1])).filter(
            primary_role=filters.role
        )
    if filters.start:
        answers = answers.filter(occurred_at__date__gte=filters.start)
    if filters.end:
        answers = answers.filter(occurred_at__date__lte=filters.end)
    latest: dict[tuple[int, str], tuple] = {}
    for learner, module, properties, when in answers.order_by("occurred_at", "pk").values_list(
        "learner_id", "module", "properties", "occurred_at"
    ):
        score = properties.get("score")
        if isinstance(score, int) and not isinstance(score, bool) and SURVEY_SCORES[0] <= score <= SURVEY_SCORES[1]:
            latest[(learner, module)] = (learner, module, properties, when)
    return list(latest.values())


def surveys(filters: Filters) -> Figure:
    low, high = SURVEY_SCORES
    scores = [str(score) for score in range(low, high + 1)]
    figure = Figure(
        "surveys",
        "Survey results per module",
        ["module", "question", "answers", "average score", *scores, "latest comments"],
    )
    by_module: dict[str, list[tuple]] = defaultdict(list)
    for answer in _survey_answers(filters):
        by_module[answer[1]].append(answer)
    questions = dict(Survey.objects.filter(module__slug__in=list(by_module)).values_list("module__slug", "question"))
    for module in sorted(by_module):
        answers = by_module[module]
        given = [properties["score"] for _l, _m, properties, _w in answers]
        average = round(sum(given) / len(given), 2)
        newest = sorted(answers, key=lambda answer: answer[3], reverse=True)
        comments = [p["comment"] for _l, _m, p, _w in newest if p.get("comment")][:LATEST_COMMENTS]
        counts = [Cell(given.count(int(score))) for score in scores]
        figure.rows.append(
            [Cell(module), Cell(questions.get(module, "")), Cell(len(given)), Cell(average), *counts, Cell(comments)]
        )
        figure.bars.append((module, average, f"{average} of {high} ({len(given)})"))
        if average < LOW_SURVEY_SCORE:
            figure.callouts.append(f"{module}: rated {average} of {high} on average by {len(given)} learners.")
    figure.note = (
        f"Each learner's latest answer per module ({low} to {high}), by the day answered; averages under "
        f"{LOW_SURVEY_SCORE:g} are called out."
    )
    return figure


FIGURES = {
    "completion": completion,
    "time-to-competency": time_to_competency,
    "funnel": funnel,
    "skip-rate": skip_rate,
    "time-per-module": time_per_module,
    "triggers": triggers,
    "reminders": reminders,
    "latency": latency,
    "surveys": surveys,
}
