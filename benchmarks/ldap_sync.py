"""The nightly LDAP sync of a 100,000-person directory, against a raw paged search of the same entries.

    bin/bench ldap_sync [--people 100000] [--groups 20] [--page-size 500] [--profile]

Set-up: ``bin/bench`` starts a throwaway slapd (``bin/_services.sh``: mdb, the memberof overlay) beside PostgreSQL
and Redis. The benchmark writes an LDIF of N inetOrgPerson entries (uid, cn, sn, givenName, mail, employeeNumber,
departmentNumber, title, telephoneNumber) in groups: ``--groups`` - 1 department groups of about N / 19 people
each, all of them members of one ``staff`` group (so every person's groups are resolved through one level of
nesting), and bulk-loads it with slapadd (the LDIF carries memberOf, which slapadd's offline load does not
maintain). An ``IdentitySource`` of kind ldap points at it, with four attribute mappings (mail, cn, department,
title) and three role rules (two on groups, one on an attribute).

1. Baseline: a raw paged search of the same entries with python-ldap (page size 500, the same filter and
   attributes the source asks for: every user attribute, entryUUID, memberOf), nothing decoded: median of 3
   after a warm-up. The LDAP source alone (decoding, nested groups, ``Entry`` values, nothing stored) is timed
   too, to split the sync's cost between reading and storing.
2. A full first sync, ``identity.services.sync.source_sync(source=…, now=…)``, into the empty PostgreSQL database:
   every learner, link and role created.
3. An unchanged re-sync: the same directory again. Rows written to ``identity_learner``, ``identity_sourcelink``
   and ``identity_roleassignment`` are counted from ``pg_stat_user_tables`` (inserted + updated + deleted tuples)
   before and after; the target is none.

Each sync runs in a fresh Python process, so that its peak RSS is the sync's own: ``VmHWM`` from /proc, not
``ru_maxrss``, which Linux carries over from the parent through fork and exec (it reported this benchmark's own
peak, e.g. after it deleted a previous run's learners). Targets: full sync at most 3x the raw search, unchanged
re-sync at most 1.5x, peak RSS under 500 MB. With ``--profile`` (or a
missed time target) the re-sync runs again under cProfile; with ``--profile``, a full sync too, into tables
emptied of the source's learners.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._support import ROOT, django_setup

SUFFIX = "dc=example,dc=com"
SOURCE_NAME = "bench-ldap"
SECRET_ENV = "BENCH_LDAP_BIND_PASSWORD"  # noqa: S105 - the name of the variable, not a secret
ATTRIBUTES = ["*", "entryUUID", "memberOf"]
PERSON_FILTER = "(objectClass=inetOrgPerson)"
WRITTEN_TABLES = ("identity_learner", "identity_sourcelink", "identity_roleassignment")
TITLES = ("Agent", "Senior agent", "Team lead", "Engineer", "Analyst", "Manager")


def ldap_env() -> dict[str, str]:
    names = ("URL", "BIND_DN", "BIND_PASSWORD", "DIR")
    missing = [f"ONBOARDING_TEST_LDAP_{n}" for n in names if not os.environ.get(f"ONBOARDING_TEST_LDAP_{n}")]
    if missing:
        raise SystemExit(f"{', '.join(missing)} not set: run this with bin/bench ldap_sync (it starts slapd)")
    return {n: os.environ[f"ONBOARDING_TEST_LDAP_{n}"] for n in names}


def ldif_write(path: Path, root: str, people: int, groups: int) -> None:
    """The subtree ``root``: ou=people with ``people`` entries, ou=groups with ``groups`` - 1 departments in one
    ``staff`` group. memberOf is written out, as the memberof overlay would keep it."""
    departments = max(1, groups - 1)
    group_base = f"ou=groups,{root}"
    staff = f"cn=staff,{group_base}"
    dept = [f"cn=dept-{i:02d},{group_base}" for i in range(departments)]
    members: list[list[str]] = [[] for _ in range(departments)]
    with path.open("w") as out:
        name = root.split(",")[0].split("=")[1]
        out.write(f"dn: {root}\nobjectClass: organizationalUnit\nou: {name}\n\n")
        for ou in ("people", "groups"):
            out.write(f"dn: ou={ou},{root}\nobjectClass: organizationalUnit\nou: {ou}\n\n")
        for n in range(people):
            uid = f"user{n:06d}"
            dn = f"uid={uid},ou=people,{root}"
            d = n % departments
            members[d].append(dn)
            out.write(
                f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: User {n:06d}\nsn: {n:06d}\ngivenName: User\n"
                f"mail: {uid}@example.com\nemployeeNumber: {100000 + n}\ndepartmentNumber: dept-{d:02d}\n"
                f"title: {TITLES[n % len(TITLES)]}\ntelephoneNumber: +41 44 {n:07d}\nmemberOf: {dept[d]}\n\n"
            )
        for d, group in enumerate(dept):
            out.write(f"dn: {group}\nobjectClass: groupOfNames\ncn: dept-{d:02d}\nmemberOf: {staff}\n")
            out.writelines(f"member: {dn}\n" for dn in members[d] or [staff])
            out.write("\n")
        out.write(f"dn: {staff}\nobjectClass: groupOfNames\ncn: staff\n")
        out.writelines(f"member: {group}\n" for group in dept)
        out.write("\n")


def slapd_load(env: dict[str, str], ldif: Path) -> None:
    subprocess.run(
        ["bash", "-c", 'source bin/_lib.sh; source bin/_services.sh; slapd_load "$1" "$2"', "-", env["DIR"], str(ldif)],
        cwd=ROOT,
        check=True,
    )


def raw_search(env: dict[str, str], base: str, page_size: int) -> tuple[float, int]:
    """Every person under ``base``, page by page, as python-ldap returns them (nothing decoded)."""
    import ldap
    from ldap.controls import SimplePagedResultsControl

    began = time.perf_counter()
    conn = ldap.initialize(env["URL"])
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.simple_bind_s(env["BIND_DN"], env["BIND_PASSWORD"])
    control = SimplePagedResultsControl(True, size=page_size, cookie=b"")
    count = 0
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, PERSON_FILTER, ATTRIBUTES, serverctrls=[control])
        _, data, _, controls = conn.result3(msgid)
        count += sum(1 for dn, _ in data if dn is not None)
        cookie = next((c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType), b"")
        if not cookie:
            break
        control.cookie = cookie
    conn.unbind_s()
    return time.perf_counter() - began, count


def source_settings(env: dict[str, str], root: str, page_size: int) -> dict:
    return {
        "url": env["URL"],
        "bind_dn": env["BIND_DN"],
        "base_dn": f"ou=people,{root}",
        "page_size": page_size,
    }


def source_read(env: dict[str, str], root: str, page_size: int) -> tuple[float, int]:
    """The LDAP source alone: entries decoded, groups resolved, nothing stored."""
    from identity.sources.base import SourceConfig
    from identity.sources.ldap import LdapSource

    began = time.perf_counter()
    with LdapSource(SourceConfig(SOURCE_NAME, source_settings(env, root, page_size), env["BIND_PASSWORD"])) as src:
        count = sum(1 for _ in src.entries())
    return time.perf_counter() - began, count


def source_create(env: dict[str, str], root: str, page_size: int):
    from identity.models import AttributeMapping, IdentitySource, Learner, Role, RoleRule

    old = IdentitySource.objects.filter(name=SOURCE_NAME).first()
    if old is not None:  # a second run on the same database
        Learner.objects.filter(source_links__source=old).delete()
        old.delete()
    source = IdentitySource.objects.create(
        name=SOURCE_NAME,
        kind="ldap",
        settings=source_settings(env, root, page_size),
        secret_env=SECRET_ENV,
        grace_period="7d",
    )
    for position, (attribute, target) in enumerate(
        [("mail", "email"), ("cn", "display_name"), ("departmentNumber", "attributes.department"),
         ("title", "attributes.title")]
    ):  # fmt: skip
        AttributeMapping.objects.create(source=source, position=position, source_attribute=attribute, target=target)
    group_base = f"ou=groups,{root}".lower()
    rules = [
        ("staff", f'"cn=staff,{group_base}" in groups'),
        ("support_specialist", f'"cn=dept-00,{group_base}" in groups or "cn=dept-01,{group_base}" in groups'),
        ("team_lead", 'attributes.title == "Team lead"'),
    ]
    for position, (slug, when) in enumerate(rules):
        role, _ = Role.objects.get_or_create(slug=slug, defaults={"name": slug.replace("_", " ").title()})
        RoleRule.objects.create(source=source, position=position, when=when, role=role)
    return source


def learners_delete() -> None:
    """The benchmark source's learners, links and roles deleted (for a second, profiled, full sync)."""
    from django.db import connection

    from identity.models import IdentitySource, Learner

    Learner.objects.filter(source_links__source=IdentitySource.objects.get(name=SOURCE_NAME)).delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE identity_learner, identity_sourcelink, identity_roleassignment")


def writes() -> dict[str, int]:
    """Tuples inserted, updated and deleted so far per table, from PostgreSQL's statistics."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(WRITTEN_TABLES) + ["identity_syncrun"]],
        )
        return dict(cursor.fetchall())


def settled_writes() -> dict[str, int]:
    """``writes()`` once the sync process's backend has reported its statistics (at its exit, asynchronously)."""
    last, stable_since = writes(), time.monotonic()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = writes()
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= 1.5:
            break
    return last


def sync_in_child(phase: str, *, profile: bool = False) -> dict:
    command = [sys.executable, "-m", "benchmarks.ldap_sync", "--child", phase] + (["--profile"] if profile else [])
    done = subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
    lines = done.stdout.splitlines()
    result = json.loads(lines[-1])
    result["output"] = "\n".join(lines[:-1])
    return result


def child(phase: str, profile: bool) -> None:
    """One sync in this fresh process; prints its figures as JSON on the last line."""
    rss_before = _rss_kb()
    django_setup()
    import logging

    logging.disable(logging.INFO)
    from django.utils import timezone

    from identity.models import IdentitySource
    from identity.services.sync import source_sync

    source = IdentitySource.objects.get(name=SOURCE_NAME)
    rss_ready = _rss_kb()
    profiler = cProfile.Profile() if profile else None
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    run = source_sync(source=source, now=timezone.now())
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - began
    if profiler:
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(30)
        print(buffer.getvalue())
    print(
        json.dumps(
            {
                "phase": phase,
                "seconds": elapsed,
                "status": getattr(run, "status", None),
                "counts": getattr(run, "counts", None),
                "errors": (getattr(run, "errors", None) or [])[:5],
                "held_reason": getattr(run, "held_reason", ""),
                "rss_start_kb": rss_before,
                "rss_ready_kb": rss_ready,
                "max_rss_kb": _status_kb("VmHWM"),
            }
        )
    )


def _rss_kb() -> int:
    return _status_kb("VmRSS")


def _status_kb(name: str) -> int:
    """A figure of this process's memory from /proc/self/status: VmRSS now, VmHWM its peak since exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--profile", action="store_true", help="profile the unchanged re-sync even if targets are met")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.profile)
        return

    env = ldap_env()
    os.environ[SECRET_ENV] = env["BIND_PASSWORD"]  # the source's secret variable, for the sync processes
    django_setup()
    root = f"ou=bench{secrets.token_hex(3)},{SUFFIX}"
    with tempfile.TemporaryDirectory(prefix="onboarding-ldap-bench-") as tmp:
        Path(tmp).chmod(0o755)  # slapadd runs as the openldap user
        ldif = Path(tmp) / "people.ldif"
        began = time.perf_counter()
        ldif_write(ldif, root, args.people, args.groups)
        ldif.chmod(0o644)
        written = time.perf_counter() - began
        began = time.perf_counter()
        slapd_load(env, ldif)
        loaded = time.perf_counter() - began
    print(
        f"set-up: LDIF of {args.people:,} people in {args.groups} groups written in {written:.1f} s, "
        f"loaded by slapadd in {loaded:.1f} s"
    )

    base = f"ou=people,{root}"
    raw_search(env, base, args.page_size)  # warm-up: slapd's caches, python-ldap's imports
    raws = [raw_search(env, base, args.page_size) for _ in range(3)]
    if any(count != args.people for _, count in raws):
        raise SystemExit(f"the raw search found {[c for _, c in raws]} entries, expected {args.people}")
    raw = statistics.median(seconds for seconds, _ in raws)
    alone, count = source_read(env, root, args.page_size)
    if count != args.people:
        raise SystemExit(f"the LDAP source streamed {count} entries, expected {args.people}")
    runs = ", ".join(f"{seconds:.2f}" for seconds, _ in raws)
    print(f"raw paged search (page {args.page_size}, median of 3): {raw:.2f} s ({args.people / raw:,.0f}/s; {runs} s)")
    print(f"LDAP source alone (decoded, groups resolved, nothing stored): {alone:.2f} s ({alone / raw:.2f}x raw)")

    source_create(env, root, args.page_size)
    before = settled_writes()
    full = sync_in_child("full")
    after_full = settled_writes()
    resync = sync_in_child("unchanged")
    after_resync = settled_writes()

    def delta(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        return {table: b.get(table, 0) - a.get(table, 0) for table in WRITTEN_TABLES}

    full_writes, resync_writes = delta(before, after_full), delta(after_full, after_resync)
    problems = []
    for result in (full, resync):
        if result["status"] != "succeeded":
            problems.append(f"{result['phase']} sync: {result['status']} {result['held_reason']} {result['errors']}")
    full_ratio, resync_ratio = full["seconds"] / raw, resync["seconds"] / raw
    peak_mb = max(full["max_rss_kb"], resync["max_rss_kb"]) / 1024

    def met(ok: bool) -> str:
        return "met" if ok else "not met"

    print(
        f"full sync: {full['seconds']:.2f} s ({args.people / full['seconds']:,.0f} people/s), "
        f"{full_ratio:.2f}x raw (target <= 3x: {met(full_ratio <= 3)}); counts {full['counts']}; "
        f"rows written {sum(full_writes.values()):,} {full_writes}"
    )
    resync_total = sum(resync_writes.values())
    print(
        f"unchanged re-sync: {resync['seconds']:.2f} s, {resync_ratio:.2f}x raw (target <= 1.5x: "
        f"{met(resync_ratio <= 1.5)}); counts {resync['counts']}; rows written {resync_total:,} {resync_writes} "
        f"(target 0: {met(resync_total == 0)})"
    )
    for result in (full, resync):
        start, ready, peak = (result[key] / 1024 for key in ("rss_start_kb", "rss_ready_kb", "max_rss_kb"))
        print(
            f"peak RSS of the {result['phase']} sync's process: {peak:.0f} MB "
            f"(at start {start:.0f} MB, with Django loaded {ready:.0f} MB)"
        )
    print(f"peak RSS: {peak_mb:.0f} MB (target < 500 MB: {met(peak_mb < 500)})")
    if args.profile or full_ratio > 3 or resync_ratio > 1.5:
        profiled = sync_in_child("unchanged-profiled", profile=True)
        print(f"\ncProfile of another unchanged re-sync ({profiled['seconds']:.2f} s under the profiler):")
        print(profiled["output"])
    if args.profile:
        learners_delete()
        profiled = sync_in_child("full-profiled", profile=True)
        print(f"\ncProfile of another full sync, into emptied tables ({profiled['seconds']:.2f} s under the profiler):")
        print(profiled["output"])
    if problems:
        raise SystemExit("FAILED:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
