"""Email through Django's email backend (SMTP with the EMAIL_* settings; tests use locmem).

The Message-ID is the message's own (``<message-42@host>``): a resend after a lost answer
carries the same id, which mail systems use to drop the copy. An address the server refuses
fails the message; anything else (the server down, busy, a broken connection) is retried.
"""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.mail.utils import DNS_NAME
from django.core.validators import validate_email

from members.messaging.models import Message
from members.messaging.providers import ProviderError


class EmailProvider:
    rate_per_second = 0.0

    def send(self, message: Message) -> str:
        try:
            validate_email(message.recipient)
        except ValidationError:
            raise ProviderError(f"not an email address: {message.recipient}", temporary=False) from None
        message_id = f"<message-{message.pk}@{DNS_NAME}>"
        # a template without a subject: the text's first line, as a mail client would show it
        subject = message.subject or message.body.strip().split("\n", 1)[0][:78]
        email = EmailMessage(
            subject=subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.recipient],
            headers={"Message-ID": message_id},
        )
        try:
            with get_connection(fail_silently=False) as connection:
                sent = connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as error:
            raise ProviderError(
                f"the mail server refused {message.recipient}: {error}", temporary=False
            ) from error
        except (smtplib.SMTPException, OSError) as error:  # OSError: refused, reset, timed out
            raise ProviderError(f"the mail server: {error}", temporary=True) from error
        if not sent:
            raise ProviderError("the mail server took nothing", temporary=True)
        return message_id
