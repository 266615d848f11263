import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from playbooks.engine.cohorts import CohortInvalid, expand_cohort
from playbooks.engine.journeys import JourneyInvalid
from playbooks.models import PlaybookVersion, VersionStatus
from signals_app.cohort_report import render_cohort_text
from signals_app.management.files import load_document, problems, read_text
from signals_app.services.cohorts import cohort_simulate


class Command(BaseCommand):
    help = (
        "Simulate a cohort of synthetic learners (a journey template with value ranges, or a CSV of learners) "
        "against a playbook version and another one (by default its draft against the published version), and "
        "print the distribution over branches, triggers, flags, reminders and completion side by side. "
        "Nothing is saved."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("template", type=Path, help="A journey template (YAML); see playbooks/engine/cohorts.py.")
        parser.add_argument("--csv", type=Path, help="Synthetic learners: external_id, roles, timezone, attributes.*")
        parser.add_argument("--learners", type=int, help="How many (default: the template's 'learners', or 1).")
        parser.add_argument("--playbook", metavar="SLUG", help="Default: the playbook the template names.")
        parser.add_argument("--version", type=int, dest="number", help="Default: the draft, else the published one.")
        parser.add_argument(
            "--against",
            default="published",
            help="A version number to compare with, 'published' (default) or 'none'.",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, template: Path, csv: Path | None, learners: int | None, **options) -> None:
        document = load_document(template, "template")
        slug = options["playbook"] or (document.get("playbook") if isinstance(document, dict) else None)
        versions = _versions(slug, options["number"], options["against"])
        try:
            journeys = expand_cohort(document, learners=learners, csv_text=read_text(csv) if csv else None)
            reports = cohort_simulate(journeys=journeys, versions=versions, on_progress=self._progress)
        except (CohortInvalid, JourneyInvalid) as exc:
            raise CommandError(problems(template, exc.errors, "the cohort cannot run")) from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps([report.as_dict() for report in reports], indent=2))
        else:
            self.stdout.write(render_cohort_text(reports), ending="")

    def _progress(self, done: int, total: int) -> None:
        if not sys.stderr.isatty() and done not in (total,) and done % max(total // 10, 1):
            return  # in a log, a line per tenth; on a terminal, a live bar
        filled = 30 * done // total
        end = "\n" if done == total or not sys.stderr.isatty() else ""
        self.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} learner runs", ending=end)
        self.stderr.flush()


def _versions(slug: str | None, number: int | None, against: str) -> list[PlaybookVersion]:
    versions = PlaybookVersion.objects.select_related("playbook").filter(playbook__slug=slug)
    if not versions.exists():
        raise CommandError(f"No playbook {slug!r}: name it in the template ('playbook:') or with --playbook.")
    published = versions.filter(status=VersionStatus.PUBLISHED).first()
    if number is not None:
        chosen = versions.filter(number=number).first()
    else:
        chosen = versions.filter(status=VersionStatus.DRAFT).first() or published
    if chosen is None:
        raise CommandError(f"--version: '{slug}' has no version {number or '(draft or published)'}")
    if against == "none":
        return [chosen]
    if against == "published":
        other = published  # none yet: nothing to compare with
    elif against.isdigit():
        other = versions.filter(number=int(against)).first()
        if other is None:
            raise CommandError(f"--against: '{slug}' has no version {against}")
    else:
        raise CommandError(f"--against: expected a version number of '{slug}', 'published' or 'none'")
    return [chosen] if other is None or other.pk == chosen.pk else [chosen, other]
