"""What a fresh programme starts with: 1 point and 1 growth per CNY, and review limits."""

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


def default_limits(apps, schema_editor):
    """Awards of more than 20,000 points or growth (a 20,000 CNY purchase at the default rate)
    wait for an approver until the operator sets other limits."""
    PointType = apps.get_model("points", "PointType")
    ReviewLimit = apps.get_model("campaigns", "ReviewLimit")
    for point_type in PointType.objects.filter(code__in=["points", "growth"]):
        ReviewLimit.objects.get_or_create(point_type=point_type, channel="", store=None, defaults={"above": 20000})


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("points", "0002_point_types_and_append_only")]

    operations = [
        migrations.RunPython(default_rules, migrations.RunPython.noop),
        migrations.RunPython(default_limits, migrations.RunPython.noop),
    ]
