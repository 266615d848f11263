"""Give enrolments evaluated before the learner's clock existed one: the latest moment evaluated (events, decisions).

Without it, a late event arriving right after the upgrade would once be evaluated against a history cut at its own
timestamp (docs/evaluation.md).
"""

from django.db import migrations
from django.db.models import Max


def set_clocks(apps, schema_editor):
    Enrollment = apps.get_model("playbooks", "Enrollment")
    Event = apps.get_model("signals_app", "Event")
    Decision = apps.get_model("signals_app", "Decision")
    events = dict(
        Event.objects.filter(processed_at__isnull=False)
        .values("learner_id")
        .annotate(latest=Max("occurred_at"))
        .values_list("learner_id", "latest")
    )
    decisions = dict(
        Decision.objects.values("enrollment_id").annotate(latest=Max("decided_at")).values_list("enrollment_id", "latest")
    )
    for enrollment in Enrollment.objects.filter(status="active").iterator():
        moments = [m for m in (events.get(enrollment.learner_id), decisions.get(enrollment.pk)) if m is not None]
        if not moments or enrollment.state.get("clock"):
            continue
        enrollment.state = {**enrollment.state, "clock": max(moments).isoformat()}
        enrollment.save(update_fields=["state"])


class Migration(migrations.Migration):
    dependencies = [
        ("playbooks", "0002_playbook_historicalplaybook_and_more"),
        ("signals_app", "0003_cohort_run"),
    ]

    operations = [migrations.RunPython(set_clocks, migrations.RunPython.noop)]
