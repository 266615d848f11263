from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from identity.models import IdentitySource
from identity.scim.tokens import scim_token_issue


class Command(BaseCommand):
    help = (
        "Issue the bearer token an IdP (Okta, Entra ID) uses for a SCIM source, replacing its previous one, and print "
        "it once (only its hash is stored)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="The SCIM identity source's name.")

    def handle(self, *args, source: str, **options) -> None:
        found = IdentitySource.objects.filter(name=source).first()
        if found is None:
            raise CommandError(f"No identity source is named {source!r}.")
        try:
            token = scim_token_issue(source=found)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(
            f"Issued a SCIM token for {found.name} (any previous one stops working now); "
            "store it, it is not shown again:"
        )
        self.stdout.write(token)
