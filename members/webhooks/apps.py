from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    """Webhooks to partners through an outbox: each event is written in the transaction of the
    fact that caused it, one row per subscribed partner that may see the member, and delivered by
    workers after commit. In members, so that every app's service can emit in its own transaction."""

    name = "members.webhooks"
    label = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        from members.services import MEMBER_FACT_LISTENERS
        from members.webhooks.services import member_facts_emit

        # the member domain ranks below this app: it tells what happened through its hook
        if member_facts_emit not in MEMBER_FACT_LISTENERS:
            MEMBER_FACT_LISTENERS.append(member_facts_emit)
