import django.db.models.deletion
from django.db import migrations, models


def fold_from_scratch(apps, schema_editor) -> None:
    # The ledger starts empty: the next fold rebuilds, then folds by differences from there.
    apps.get_model("insights", "FoldState").objects.update(folded_until=None)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0004_bandits"),
        ("playbooks", "0009_schedule_and_readiness"),
        ("signals_app", "0011_flagroute"),
    ]

    operations = [
        migrations.RemoveField(model_name="foldstate", name="marks"),
        migrations.AddField(
            model_name="foldstate",
            name="decision_top",
            field=models.BigIntegerField(default=0, help_text="The highest decision id folded."),
        ),
        migrations.AddField(
            model_name="foldstate",
            name="decision_gaps",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="[[first id, last id, when seen]]: ids under the top not yet seen (a transaction still "
                "open, or an id never used), read again by each fold until the look-back has passed.",
            ),
        ),
        migrations.RunPython(fold_from_scratch, migrations.RunPython.noop),
        migrations.DeleteModel(name="EnrollmentSeen"),
        migrations.CreateModel(
            name="EnrollmentSeen",
            fields=[
                (
                    "enrollment",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="playbooks.enrollment",
                    ),
                ),
                ("role", models.CharField(blank=True, max_length=100)),
                ("status", models.CharField(max_length=10)),
                ("enrolled_at", models.DateTimeField()),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "playbook",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="playbooks.playbook"
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="playbooks.playbookversion"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="ProgressSeen",
            fields=[
                (
                    "progress",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="playbooks.moduleprogress",
                    ),
                ),
                ("step", models.CharField(blank=True, max_length=100)),
                ("module", models.CharField(max_length=100)),
                ("completed", models.BooleanField(default=False)),
                ("skipped", models.BooleanField(default=False)),
                ("seconds", models.PositiveIntegerField(default=0)),
                (
                    "enrollment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="playbooks.enrollment"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="ReminderSeen",
            fields=[
                (
                    "reminder",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="signals_app.reminder",
                    ),
                ),
                ("day", models.DateField()),
                ("metric", models.CharField(max_length=20)),
                ("via", models.CharField(max_length=100)),
                (
                    "enrollment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="playbooks.enrollment"
                    ),
                ),
            ],
        ),
    ]
