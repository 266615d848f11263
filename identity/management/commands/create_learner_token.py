from django.core.management.base import BaseCommand, CommandError

from identity.selectors import learner_get
from identity.services import learner_token_create


class Command(BaseCommand):
    help = "Issue a personal token for a learner and print it once (only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("external_id")
        parser.add_argument("--name", default="issued by an admin", help="Where the token will be used.")

    def handle(self, *args, external_id: str, name: str, **options) -> None:
        learner = learner_get(external_id=external_id)
        if learner is None or not learner.is_active:
            raise CommandError(f"No active learner '{external_id}'.")
        issued = learner_token_create(learner=learner, name=name)
        self.stderr.write(f"Issued {issued.token} for {learner}; store it now, it is not shown again:")
        self.stdout.write(issued.key)
