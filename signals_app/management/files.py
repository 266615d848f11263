"""Reading the simulator's input files in commands: a missing file or bad YAML is a CommandError naming the file."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from playbooks.engine.document import ANY_YAML, COHORT_TEMPLATE_YAML, JOURNEY_YAML, load_yaml, yaml_bytes_problem
from playbooks.engine.spec import PlaybookInvalid

# What each command's document is, for its size limit and messages.
DOCUMENT_KINDS = {"journey": JOURNEY_YAML, "template": COHORT_TEMPLATE_YAML}


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc


def load_document(path: Path, what: str) -> Any:
    kind = DOCUMENT_KINDS.get(what, ANY_YAML)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from exc
    problem = yaml_bytes_problem(size, kind)  # before reading it: a huge file is never loaded
    if problem:
        raise CommandError(f"{path}: {problem}")
    try:
        return load_yaml(read_text(path), kind)
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
