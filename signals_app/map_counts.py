"""The decision log's share of the playbook map's counts: learners per branch option and per trigger, waits per
outcome, for the learners whose enrolment is on a version. Three aggregate queries, however many learners."""

from typing import Any

from django.db.models import Count

from playbooks.models import PlaybookVersion
from signals_app.models import Decision


def version_decision_rows(*, version: PlaybookVersion) -> dict[str, Any]:
    """``branch_rules`` {(step, rule): learners}, ``trigger_rules`` {rule: learners} and ``wait_rules``
    {(rule, waited-for event, came | timed_out): waits}, as ``playbooks.engine.playbook_map.counts_from_rows``
    takes them. A learner moved from an older version brings its decisions: their rules still name the options."""
    decisions = Decision.objects.filter(enrollment__version=version).order_by()  # no default ordering in GROUP BY
    learners = Count("enrollment_id", distinct=True)
    branches = decisions.filter(kind="branch").values("step", "rule").annotate(n=learners)
    triggers = decisions.filter(kind="trigger").values("rule").annotate(n=learners)
    waits = decisions.filter(kind="wait").values("rule", "values__waited_for", "action__wait").annotate(n=Count("pk"))
    return {
        "branch_rules": {(row["step"], row["rule"]): row["n"] for row in branches},
        "trigger_rules": {row["rule"]: row["n"] for row in triggers},
        "wait_rules": {(row["rule"], row["values__waited_for"], row["action__wait"]): row["n"] for row in waits},
    }
