from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from identity.models import ApiScope
from identity.services import api_key_create


class Command(BaseCommand):
    help = "Issue a service API key and print it once (only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="Who uses the key, e.g. 'LMS connector'.")
        parser.add_argument("--scopes", required=True, help=f"Comma-separated, from: {', '.join(ApiScope.values)}.")
        parser.add_argument(
            "--can-create-learners",
            action="store_true",
            help="Events for an unknown learner create the learner instead of being refused.",
        )

    def handle(self, *args, name: str, scopes: str, can_create_learners: bool, **options) -> None:
        try:
            issued = api_key_create(
                name=name,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                can_create_learners=can_create_learners,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(f"Issued {issued.api_key}; store the key now, it is not shown again:")
        self.stdout.write(issued.key)
