from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_READ = [
    "messaging.view_message",
    "messaging.view_template",
    "messaging.view_messagingsettings",
    "messaging.view_recordedmessage",
]


class MessagingConfig(AppConfig):
    """Messages to members (SMS, WeChat, email, the app's inbox) through an outbox: written in the
    transaction of what caused them, sent by workers after commit. In members, so that any app's
    service can write one in its own transaction."""

    name = "members.messaging"
    label = "messaging"
    verbose_name = _("Messages")

    def ready(self) -> None:
        from members.messaging import checks  # noqa: F401  (registers the providers' check)

    role_permissions = {
        Role.OPERATOR: [
            *_READ,
            "messaging.add_template",
            "messaging.change_template",
            "messaging.delete_template",
            "messaging.change_messagingsettings",
        ],
    }
