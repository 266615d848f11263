from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from onboarding.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo roles, content modules, learners and an admin login. Running it twice changes nothing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--password", default="onboarding-demo", help="Password of the demo admin and learners.")

    def handle(self, *args, admin_username: str, password: str, **options) -> None:
        if not settings.DEMO_DATA_ALLOWED:
            raise CommandError("Demo data (with its well-known logins) is disabled here: DEMO_DATA_ALLOWED is off.")
        summary = demo_load(admin_username=admin_username, password=password)
        if summary.written:
            self.stdout.write(f"Demo loaded: {', '.join(summary.written)}.")
        else:
            self.stdout.write("Demo already loaded; nothing changed.")
