from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_READ = ["cash.view_cashrule", "cash.view_hold", "cash.view_holdrefund"]


class CashConfig(AppConfig):
    """Points as cash at checkout (积分抵现): the rule, holds at the till, the finance report."""

    name = "points.cash"
    label = "cash"
    verbose_name = _("Points as cash")
    demo_seed = "points.cash.demo.seed"  # demo data for `manage.py seed_demo` (members.demo.DemoRun)

    role_permissions = {
        Role.OPERATOR: [*_READ, "cash.change_cashrule", "cash.view_cash_report"],
        Role.FINANCE: [*_READ, "cash.view_cash_report"],
    }

    def ready(self) -> None:
        from config.common.governance import govern
        from points.cash.models import CashRule

        govern(CashRule)  # what points are worth at the till, and how much of a basket they pay
        from members.privacy.exports import PERSONAL_DATA
        from points.cash.defaults import cash_rules_ensure
        from points.cash.sources import holds_of, holds_text
        from points.sources import DESCRIBERS

        post_migrate.connect(cash_rules_ensure, sender=self, dispatch_uid="cash.defaults")
        DESCRIBERS["hold"] = holds_text
        if ("points_holds", holds_of) not in PERSONAL_DATA:
            PERSONAL_DATA.append(("points_holds", holds_of))
