from django.db import migrations

import common.fields

# One ALTER TABLE for the three columns: PostgreSQL rewrites the table (and rebuilds its indexes) once, not three
# times. Elsewhere (SQLite) a JSONField is text either way: nothing to do.
_COLUMNS = ("current_reason", "state", "tally")


def _retype(to: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        changes = ", ".join(f'ALTER COLUMN "{column}" TYPE {to} USING "{column}"::{to}' for column in _COLUMNS)
        schema_editor.execute(f'ALTER TABLE "playbooks_enrollment" {changes}')

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("playbooks", "0014_updated_at_indexes_for_the_fold"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_retype("json"), _retype("jsonb"))],
            state_operations=[
                migrations.AlterField(
                    model_name="enrollment",
                    name=name,
                    field=common.fields.WholeJSONField(blank=name != "state", default=dict),
                )
                for name in _COLUMNS
            ],
        ),
    ]
