"""A simulation told as a story an admin can read: what the learner did, what the playbook did about it, and
whether each expectation held (with the decision log behind a failure)."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from signals_app.services.simulation import SimulationResult


def render_text(result: SimulationResult) -> str:
    zone = ZoneInfo(result.timezone)
    lines = [
        f"Simulation of '{result.playbook}' v{result.version} ({result.version_status}) for {result.learner}",
        f"from {_local(result.start, zone)} to {_local(result.until, zone)} ({result.timezone}); nothing was saved.",
        "",
    ]
    if not result.enrolled:
        lines += ["The learner does not match the playbook's audience: they were never enrolled.", ""]
    for entry in result.timeline:
        lines.append(f"  {'+' + entry['offset']:>9}  {_sentence(entry)}")
    final = result.final
    lines += [
        "",
        "At the end: "
        + (
            "the journey is complete"
            if final["status"] == "completed"
            else f"next module {final['next_module']}"
            if final["next_module"]
            else "not enrolled"
        )
        + f"; completed {_list(final['completed'])}; skipped {_list(final['skipped'])}; "
        f"flags {_list(final['flags'])}; {final['reminders']} reminder(s).",
    ]
    if result.expectations:
        lines += ["", "Expectations:"]
        for expectation in result.expectations:
            mark = "PASS" if expectation.passed else "FAIL"
            lines.append(f"  {mark}  {expectation.message}")
            if not expectation.passed:
                lines.append("        decision log up to then:")
                lines += [f"          +{e['offset']:<8} {_sentence(e)}" for e in expectation.decisions[-8:]]
        passed = sum(e.passed for e in result.expectations)
        lines += ["", f"{passed} of {len(result.expectations)} expectation(s) passed."]
    return "\n".join(lines) + "\n"


def _sentence(entry: dict[str, Any]) -> str:
    kind = entry["kind"]
    if kind == "event":
        details = ", ".join(f"{k}={v}" for k, v in (entry.get("properties") or {}).items())
        module = f" {entry['module']}" if entry.get("module") else ""
        late = f" [arrives late, at +{entry['arrives']}]" if entry.get("arrives") else ""
        sentence = f"the learner: {entry['type'].replace('_', ' ')}{module}" + (f" ({details})" if details else "")
        return sentence + late
    if kind == "next_module":
        return f"next module: {entry['module']} - {entry['explanation']}"
    if kind == "branch":
        target = entry["module"] or f"go to {entry['action'].get('goto')}"
        return f"branch '{entry['step']}' chose {target} - {entry['explanation']}"
    if kind == "trigger":
        return f"{entry['rule'].split(':', 1)[0]} {entry['status']}: {entry['explanation']}"
    if kind == "flag":
        return f"flag raised for a supervisor: {entry['flag']}"
    if kind == "reminder":
        what = f"{entry['channel']} reminder '{entry['template']}'" + (
            f" with {entry['module']}" if entry.get("module") else ""
        )
        note = f" ({entry['note']})" if entry.get("note") else ""
        return f"{what}: {entry['status']}{note}"
    if kind == "enrolled":
        return f"enrolled; first module: {entry['module']} - {entry['explanation']}"
    if kind == "action" and entry.get("status") == "held":
        return f"held, not applied ({entry['rule'].split(':', 1)[0]}): {entry['explanation']}"
    if kind == "action":
        return _action(entry["action"], entry)
    if kind == "completed":
        return "journey complete: every step of the playbook is done"
    return f"{kind}: {entry.get('action')} - {entry.get('explanation', '')}"


def _action(action: dict[str, Any], entry: dict[str, Any]) -> str:
    ((name, argument),) = action.items()
    sentence = {
        "insert_module": f"module {argument} inserted ahead of the path",
        "swap_module": f"current module swapped for {argument}",
        "unlock_module": f"module {argument} unlocked",
        "goto": f"jumped to step {argument}",
        "complete": "journey marked complete",
        "webhook": f"webhook to {argument.get('url') if isinstance(argument, dict) else argument} recorded",
    }.get(name, f"{name}: {argument}")
    return f"{sentence} ({entry['rule'].split(':', 1)[0]})"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %Y %H:%M")


def _list(items: list[str]) -> str:
    return ", ".join(items) if items else "none"
