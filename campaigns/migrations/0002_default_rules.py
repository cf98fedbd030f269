from decimal import Decimal

from django.db import migrations


def default_rules(apps, schema_editor):
    """A fresh programme earns 1 point and 1 growth per CNY of the eligible amount, rounded down."""
    PointType = apps.get_model("points", "PointType")
    EarnRule = apps.get_model("campaigns", "EarnRule")
    for point_type in PointType.objects.filter(code__in=["points", "growth"]):
        EarnRule.objects.get_or_create(
            point_type=point_type, channel="", store=None, defaults={"rate": Decimal(1), "rounding": "floor"}
        )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("points", "0002_point_types_and_append_only")]

    operations = [migrations.RunPython(default_rules, migrations.RunPython.noop)]
