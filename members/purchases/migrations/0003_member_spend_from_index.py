# The member's purchases index carries the amounts (segments on spend and RFM scoring read it
# alone), and the foreign key's own index goes: this one leads with the member.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0001_initial"),
        ("purchases", "0002_day_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="purchase", name="purchase_member_time"),
        migrations.AddIndex(
            model_name="purchase",
            index=models.Index(
                fields=["member", "occurred_at"],
                include=("paid_amount", "refunded_amount"),
                name="purchase_member_time",
            ),
        ),
        # Django's AlterField would drop and re-add the foreign key, which checks every purchase
        # again under lock; only the index has to go.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS purchases_purchase_member_id_bdee8a70",
                    reverse_sql=(
                        "CREATE INDEX purchases_purchase_member_id_bdee8a70 "
                        "ON purchases_purchase (member_id)"
                    ),
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="purchase",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="purchases",
                        to="members.member",
                        verbose_name="member",
                    ),
                )
            ],
        ),
    ]
