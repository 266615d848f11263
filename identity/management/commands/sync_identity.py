import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from identity.models import IdentitySource, SyncRun, SyncRunStatus
from identity.services.sync import PULL_SOURCES, source_sync


class Command(BaseCommand):
    help = (
        "Sync identity sources now (every enabled pull source, or --source NAME): a progress bar on stderr, then "
        "the counts, errors and checks of each run; --dry-run writes nothing and prints what would change."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", help="The source's name; default: every enabled pull source.")
        parser.add_argument("--dry-run", action="store_true", help="Compute and print the changes; write nothing.")
        parser.add_argument(
            "--confirm", action="store_true", help="Apply deactivations even beyond the source's brake."
        )

    def handle(self, *args: Any, source: str | None, dry_run: bool, confirm: bool, **options: Any) -> None:
        sources = IdentitySource.objects.filter(kind__in=list(PULL_SOURCES))
        if source:
            sources = sources.filter(name=source)
            if not sources.exists():
                known = ", ".join(IdentitySource.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No pull source named {source!r} (sources: {known}).")
        else:
            sources = sources.filter(enabled=True)
        failed = False
        for identity_source in sources.order_by("name"):
            run = self._sync(identity_source, dry_run=dry_run, confirm=confirm)
            self._print(run, with_diff=dry_run)
            failed |= run.status in (SyncRunStatus.FAILED, SyncRunStatus.HELD)
        if failed:
            raise CommandError("A run failed or was held; see above.")

    def _sync(self, source: IdentitySource, *, dry_run: bool, confirm: bool) -> SyncRun:
        bar = tqdm(desc=source.name, unit=" entries", file=sys.stderr, disable=None)
        done = 0

        def progress(read: int) -> None:
            nonlocal done
            bar.update(read - done)
            done = read

        try:
            return source_sync(source=source, dry_run=dry_run, confirm=confirm, progress=progress)
        finally:
            bar.close()

    def _print(self, run: SyncRun, *, with_diff: bool) -> None:
        write = self.stdout.write
        kind = "dry run" if run.dry_run else "run"
        write(f"{run.source.name}: {kind} {run.get_status_display().lower()}")
        counts = run.counts or {}
        write("  " + ", ".join(f"{name} {count:,}" for name, count in counts.items() if count) or "  nothing read")
        if run.held_reason:
            write(f"  held: {run.held_reason}")
            write(f"  apply it with: manage.py sync_identity --source {run.source.name} --confirm")
        for error in run.errors:
            where = f" [{error['field']}]" if error.get("field") else ""
            write(f"  error: {error['entry'] or '-'}{where}: {error['message']}")
        for check in run.checks:
            examples = f" (e.g. {', '.join(map(str, check.get('examples', [])[:5]))})" if check.get("examples") else ""
            write(f"  check: {check['message']}{examples}")
        if with_diff:
            for change in run.diff:
                write(f"  {_change_line(change)}")
            if counts and len(run.diff) < sum(counts.get(n, 0) for n in ("created", "linked", "updated", "missing")):
                write(f"  … the first {len(run.diff):,} changes are shown")


def _change_line(change: dict[str, Any]) -> str:
    who = change.get("learner") or change.get("entry")
    parts = []
    for name, value in (change.get("changes") or {}).items():
        if name == "roles":
            added, removed = value.get("added") or [], value.get("removed") or []
            parts += [f"+role {slug}" for slug in added] + [f"-role {slug}" for slug in removed]
        else:
            before, after = value
            parts.append(f"{name}: {before!r} → {after!r}")
    detail = f": {'; '.join(parts)}" if parts else ""
    return f"{change['change']:<11} {who} ({change.get('entry')}){detail}"
