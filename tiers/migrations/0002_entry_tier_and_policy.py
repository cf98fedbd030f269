"""Every programme has an entry tier (rank 0) and one tier policy; operators rename and add."""

from django.db import migrations


def create(apps, schema_editor):
    Tier = apps.get_model("tiers", "Tier")
    TierPolicy = apps.get_model("tiers", "TierPolicy")
    Tier.objects.get_or_create(rank=0, defaults={"code": "member", "name": "普通会员", "threshold": 0})
    TierPolicy.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("tiers", "0001_initial")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
