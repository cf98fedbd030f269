# The foreign key's own index goes: message_member_time leads with the same column. Django's AlterField would
# drop and re-add the foreign key, checking every row again under lock; only the index has to go.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("messaging", "0002_send_rate")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS messaging_message_member_id_4b9ab527",
                    reverse_sql="CREATE INDEX messaging_message_member_id_4b9ab527 ON messaging_message (member_id)",
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="members.member",
                        verbose_name="member",
                    ),
                )
            ],
        ),
    ]
