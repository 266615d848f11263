"""Reading the simulator's input files in commands: a missing file or bad YAML is a CommandError naming the file."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from playbooks.engine.document import ANY_YAML, COHORT_TEMPLATE_YAML, JOURNEY_YAML, load_yaml
from playbooks.engine.spec import PlaybookInvalid
from playbooks.management.files import problems, read_text

__all__ = ["load_document", "problems", "read_text"]

# What each command's document is, for its size limit and messages.
DOCUMENT_KINDS = {"journey": JOURNEY_YAML, "template": COHORT_TEMPLATE_YAML}


def load_document(path: Path, what: str) -> Any:
    kind = DOCUMENT_KINDS.get(what, ANY_YAML)
    try:
        return load_yaml(read_text(path, kind), kind)
    except PlaybookInvalid as exc:
        raise CommandError(problems(path, exc.errors, f"the {what} is not valid YAML")) from exc
