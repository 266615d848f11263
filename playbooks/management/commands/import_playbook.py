from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from playbooks.engine.document import PLAYBOOK_YAML
from playbooks.engine.spec import PlaybookInvalid
from playbooks.management.files import problems, read_text
from playbooks.services import playbook_import


class Command(BaseCommand):
    help = "Import a playbook file (YAML) as the playbook's draft, and publish it with --publish. All or nothing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--publish", action="store_true", help="Publish the imported version.")
        parser.add_argument(
            "--migrate", action="store_true", help="Move learners on older versions to it at their next step."
        )

    def handle(self, *args, file: Path, publish: bool, migrate: bool, **options) -> None:
        text = read_text(file, PLAYBOOK_YAML)
        try:
            result = playbook_import(text=text, publish=publish, migrate=migrate)
        except PlaybookInvalid as exc:
            raise CommandError(problems(file, exc.errors, "nothing was imported")) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        verb = "Imported" if result.changed else "Unchanged:"
        self.stdout.write(f"{verb} {result.version}.")
