"""Reading a user's file in a command: its size checked before it is read, a missing or non-UTF-8 file a
CommandError naming the file (never a traceback)."""

from pathlib import Path

from django.core.management.base import CommandError

from playbooks.engine.document import YamlKind, yaml_bytes_problem


def read_text(path: Path, kind: YamlKind | None = None) -> str:
    if kind is not None:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from exc
        if problem := yaml_bytes_problem(size, kind):  # a huge file is never loaded
            raise CommandError(f"{path}: {problem}")
    try:
        return path.read_text()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc


def problems(path: Path, errors, summary: str) -> str:
    """Every problem on its own line, with a condition's caret pointer under it."""
    lines = [f"{path}: {summary}, {len(errors)} problem(s):"]
    for error in errors:
        lines.append(f"  {error}")
        if getattr(error, "pointer", None):
            lines.extend(f"      {line}" for line in error.pointer.splitlines())
    return "\n".join(lines)
