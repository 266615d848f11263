import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from playbooks.engine.journeys import JourneyInvalid
from playbooks.engine.spec import PlaybookInvalid
from playbooks.selectors import version_get
from signals_app.management.files import load_document, problems, read_text
from signals_app.services.simulation import journey_simulate
from signals_app.simulation_report import render_text


class Command(BaseCommand):
    help = (
        "Run a synthetic learner's journey (YAML, docs/journeys.md) through the production services on a "
        "simulated clock, print the timeline and each expectation; exit 1 when one fails. Nothing is saved."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        # Our --version picks a playbook version, as in export_playbook; it replaces Django's --version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("journey", type=Path)
        parser.add_argument(
            "--playbook",
            metavar="FILE_OR_SLUG",
            help="A playbook file to try (not imported), or a playbook slug; default: the one the journey names.",
        )
        parser.add_argument(
            "--version", type=int, dest="number", help="With a slug: this version number (e.g. a draft)."
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, journey: Path, playbook: str | None, number: int | None, format: str, **options):
        document = load_document(journey, "journey")
        target, playbook_text = None, None
        if playbook and Path(playbook).is_file():
            playbook_text = read_text(Path(playbook))
        elif playbook:
            target = version_get(slug=playbook, number=number)
            if target is None:
                which = f"version {number} of " if number else ""
                raise CommandError(f"--playbook: no {which}playbook '{playbook}' (neither a file nor a known slug)")
        try:
            result = journey_simulate(document=document, version=target, playbook_text=playbook_text)
        except JourneyInvalid as exc:
            raise CommandError(problems(journey, exc.errors, "the journey cannot run")) from exc
        except PlaybookInvalid as exc:
            raise CommandError(problems(Path(playbook), exc.errors, "the playbook file is invalid")) from exc
        if format == "json":
            self.stdout.write(json.dumps(result.as_dict(), indent=2, default=str))
        else:
            self.stdout.write(render_text(result), ending="")
        if not result.passed:
            raise SystemExit(1)
