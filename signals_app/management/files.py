"""Reading the simulator's input files in commands: a missing file or bad YAML is a CommandError naming the file."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from playbooks.engine.document import load_yaml
from playbooks.engine.spec import PlaybookInvalid


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from exc


def load_document(path: Path, what: str) -> Any:
    try:
        return load_yaml(read_text(path))
    except PlaybookInvalid as exc:
        raise CommandError(problems(path, exc.errors, f"the {what} is not valid YAML")) from exc


def problems(path: Path, errors, summary: str) -> str:
    """Every problem on its own line, with a condition's caret pointer under it."""
    lines = [f"{path}: {summary}, {len(errors)} problem(s):"]
    for error in errors:
        lines.append(f"  {error}")
        if getattr(error, "pointer", None):
            lines.extend(f"      {line}" for line in error.pointer.splitlines())
    return "\n".join(lines)
