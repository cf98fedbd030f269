# The foreign key's own index goes: journey_entry_member leads with the same column. Django's AlterField would
# drop and re-add the foreign key, checking every row again under lock; only the index has to go.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("journeys", "0002_due_entries_in_order")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS journeys_journeyentry_journey_id_8aca3914",
                    reverse_sql="CREATE INDEX journeys_journeyentry_journey_id_8aca3914 ON journeys_journeyentry (journey_id)",
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="journeyentry",
                    name="journey",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="journeys.journey",
                        verbose_name="journey",
                    ),
                )
            ],
        ),
    ]
