import time

from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.core.management.base import BaseCommand, CommandError

from onboarding.tasks import ping


class Command(BaseCommand):
    help = "Send a ping task through the broker and wait for a worker to answer (exit 1 if none does)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--timeout", type=float, default=30.0, help="Seconds to wait for an answer.")

    def handle(self, *args, timeout: float, **options) -> None:
        started = time.monotonic()
        try:
            answer = ping.delay().get(timeout=timeout)
        except CeleryTimeoutError as exc:
            raise CommandError(
                f"No worker answered within {timeout:g}s: is a worker consuming the default queue?"
            ) from exc
        elapsed_ms = (time.monotonic() - started) * 1000
        self.stdout.write(f"Worker {answer['hostname']} (pid {answer['pid']}) answered in {elapsed_ms:.0f} ms.")
