"""A cohort comparison as a table: one column per version, each row a count and its share of the cohort."""

from signals_app.services.cohorts import CohortReport


def cohort_rows(reports: list[CohortReport]) -> list[tuple[str, str, list[str]]]:
    """``(section, label, cells)`` rows, the same for the command's table and the admin page."""
    rows: list[tuple[str, str, list[str]]] = []

    def add(section: str, label: str, counts: list[int]) -> None:
        rows.append((section, label, [f"{c} ({r.share(c):g}%)" for c, r in zip(counts, reports, strict=True)]))

    add("", "enrolled", [r.enrolled for r in reports])
    add("", "completed the path", [r.completed for r in reports])
    means = [f"{r.steps_done / r.enrolled:.2f}" if r.enrolled else "-" for r in reports]
    rows.append(("", "mean steps done", means))
    for step in _keys(r.branches for r in reports):
        for choice in _keys(r.branches.get(step, {}) for r in reports):
            add(f"branch '{step}'", choice, [r.branches.get(step, {}).get(choice, 0) for r in reports])
    for name in _keys(r.triggers for r in reports):
        add("triggers fired", name, [r.triggers.get(name, 0) for r in reports])
    for name in _keys(r.suppressed for r in reports):
        add("triggers held back by their limit", name, [r.suppressed.get(name, 0) for r in reports])
    for name in _keys(r.flags for r in reports):
        add("flags", name, [r.flags.get(name, 0) for r in reports])
    add("reminders", "learners reminded", [r.learners_reminded for r in reports])
    rows.append(("reminders", "scheduled (total)", [str(r.reminders_scheduled) for r in reports]))
    rows.append(("reminders", "suppressed by the policy (total)", [str(r.reminders_suppressed) for r in reports]))
    for module in _keys(r.next_modules for r in reports):
        add("where learners stand at the end", module, [r.next_modules.get(module, 0) for r in reports])
    rows.append(("", "simulation time", [f"{r.seconds:.1f}s" for r in reports]))
    return rows


def render_cohort_text(reports: list[CohortReport]) -> str:
    first = reports[0]
    versions = " against ".join(r.label for r in reports)
    lines = [f"Cohort of {first.learners} synthetic learners on '{first.playbook}': {versions}", ""]
    width = 44
    lines.append(" " * width + "".join(f"{r.label:>22}" for r in reports))
    section = None
    for row_section, label, cells in cohort_rows(reports):
        if row_section and row_section != section:
            lines.append(row_section)
        section = row_section
        name = f"  {label}" if row_section else label
        lines.append(f"{name[: width - 1]:<{width}}" + "".join(f"{cell:>22}" for cell in cells))
    return "\n".join(lines) + "\n"


def _keys(counters) -> list[str]:
    seen: dict[str, int] = {}
    for counter in counters:
        for key, count in counter.items():
            seen[key] = seen.get(key, 0) + (count if isinstance(count, int) else sum(count.values()))
    return sorted(seen, key=lambda key: (-seen[key], key))
