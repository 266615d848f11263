from django.core.management.base import BaseCommand

from insights.services import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute every insights rollup from the raw rows (enrolments, module progress, decisions, reminders)."

    def handle(self, *args, **options) -> None:
        result = rollups_rebuild()
        self.stdout.write(
            f"Rebuilt {result.rollup_rows} rollup rows from {result.enrollments} enrolments, {result.progress} module "
            f"progress rows, {result.decisions} decisions and {result.reminders} reminders."
        )
