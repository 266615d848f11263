from django.core.management.base import BaseCommand, CommandError

from identity.models import Learner
from playbooks.models import Enrollment, EnrollmentStatus
from signals_app.services.evaluation import tallies_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the running tallies of learners' active enrolments (the signals incremental evaluation keeps) "
        "from their evaluated events. Safe at any time: each batch of learners is rebuilt under their locks."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--learner", action="append", default=[], metavar="EXTERNAL_ID", help="repeatable")
        parser.add_argument("--playbook", metavar="SLUG", help="only learners enrolled in this playbook")

    def handle(self, *args, learner: list[str], playbook: str | None, **options) -> None:
        enrollments = Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE)
        if playbook:
            enrollments = enrollments.filter(playbook__slug=playbook)
        if learner:
            found = dict(Learner.objects.filter(external_id__in=learner).values_list("external_id", "pk"))
            missing = sorted(set(learner) - set(found))
            if missing:
                raise CommandError(f"No learner {', '.join(missing)}: give external ids as the API uses them.")
            enrollments = enrollments.filter(learner_id__in=found.values())
        learner_ids = sorted(set(enrollments.values_list("learner_id", flat=True)))
        rebuilt = tallies_rebuild(learner_ids=learner_ids)
        self.stdout.write(f"Rebuilt {rebuilt} enrolments' tallies for {len(learner_ids)} learners.")
