from django.core.management.base import BaseCommand, CommandError

from playbooks import selectors
from playbooks.engine.document import dump_yaml


class Command(BaseCommand):
    help = "Print a playbook version as YAML: the published one, or --version N."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        # Our --version picks a playbook version; it replaces Django's --version of the framework.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--version", type=int, dest="number", help="Version number (default: the published one).")

    def handle(self, *args, slug: str, number: int | None, **options) -> None:
        version = selectors.version_get(slug=slug, number=number)
        if version is None:
            which = f"version {number} of " if number else ""
            raise CommandError(f"No {which}playbook '{slug}'.")
        self.stdout.write(dump_yaml(selectors.version_spec(version=version)), ending="")
