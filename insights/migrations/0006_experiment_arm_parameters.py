import django.db.models.deletion
from django.db import migrations, models


def winning_arms(apps, schema_editor) -> None:
    # Until now an arm was its version: a stopped experiment's winner names its arm.
    Experiment = apps.get_model("insights", "Experiment")
    ExperimentArm = apps.get_model("insights", "ExperimentArm")
    for experiment in Experiment.objects.filter(winner__isnull=False):
        arm = ExperimentArm.objects.filter(experiment=experiment, version_id=experiment.winner_id).first()
        Experiment.objects.filter(pk=experiment.pk).update(winning_arm=arm)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0005_incremental_fold_ledger"),
        ("playbooks", "0013_enrollment_tally"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="experimentarm",
            options={"ordering": ["-is_control", "version__number", "pk"]},
        ),
        migrations.RemoveConstraint(
            model_name="experimentarm",
            name="experiment_arm_version_unique",
        ),
        migrations.AddField(
            model_name="experiment",
            name="winning_arm",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="insights.experimentarm",
                verbose_name="winner arm",
            ),
        ),
        migrations.AddField(
            model_name="experimentarm",
            name="parameters",
            field=models.JSONField(
                blank=True, default=dict, help_text="Values of the version's declared parameters its learners evaluate."
            ),
        ),
        migrations.AddConstraint(
            model_name="experimentarm",
            constraint=models.UniqueConstraint(
                fields=("experiment", "version", "parameters"), name="experiment_arm_version_parameters_unique"
            ),
        ),
        migrations.RunPython(winning_arms, migrations.RunPython.noop),
    ]
