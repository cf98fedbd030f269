from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_READ = [
    "campaigns.view_earnrule",
    "campaigns.view_behaviourrule",
    "campaigns.view_campaign",
    "campaigns.view_award",
    "campaigns.view_reviewlimit",
    "campaigns.view_awardreview",
    "campaigns.view_riskrule",
    "campaigns.view_riskcase",
]


class CampaignsConfig(AppConfig):
    """Earning rules, campaigns with their approval, and the earning pipeline's awards."""

    name = "campaigns"
    verbose_name = _("Campaigns")
    demo_seed = "campaigns.demo.seed"  # demo data for `manage.py seed_demo` (members.demo.DemoRun)

    role_permissions = {
        Role.OPERATOR: [
            *_READ,
            "campaigns.add_earnrule",
            "campaigns.change_earnrule",
            "campaigns.add_behaviourrule",
            "campaigns.change_behaviourrule",
            "campaigns.add_campaign",
            "campaigns.change_campaign",  # drafts, and the lifecycle steps other than approval
            "campaigns.add_reviewlimit",
            "campaigns.change_reviewlimit",
            "campaigns.add_riskrule",
            "campaigns.change_riskrule",
        ],
        Role.APPROVER: [
            *_READ,
            "campaigns.approve_campaign",
            "campaigns.decide_awardreview",
            "campaigns.decide_riskcase",
        ],
        Role.FINANCE: _READ,
    }

    def ready(self) -> None:
        from campaigns.models import BehaviourRule, EarnRule, ReviewLimit, RiskRule
        from config.common.governance import govern

        for model in (EarnRule, BehaviourRule, ReviewLimit, RiskRule):
            govern(model)
        from campaigns.defaults import earning_ensure

        post_migrate.connect(earning_ensure, sender=self, dispatch_uid="campaigns.defaults")
        # the top app: every job's app is migrated by the time its post_migrate runs
        from config.common.jobs import schedules_ensure

        post_migrate.connect(schedules_ensure, sender=self, dispatch_uid="campaigns.schedules")
        from campaigns.earning.imports import import_facts_process, import_review_marks
        from members.imports.apply import PROCESSORS
        from members.imports.verdicts import PREVIEW_MARKS

        if import_facts_process not in PROCESSORS:
            PROCESSORS.append(import_facts_process)
        if import_review_marks not in PREVIEW_MARKS:
            PREVIEW_MARKS.append(import_review_marks)

        from campaigns.earning.explain import sources_register

        sources_register()
        from campaigns.merging import campaigns_merge
        from members.oneid.services import MOVED_LABELS, register_step

        register_step("awards", _("Awards"), campaigns_merge)
        MOVED_LABELS.setdefault("segments", _("Segment memberships"))
