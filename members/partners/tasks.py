"""Celery task of partners: the day's housekeeping of stored API answers and member codes."""

from celery import shared_task


@shared_task(name="partners.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    from members.partners.codes import member_codes_purge
    from members.partners.services import idempotency_purge

    # member codes expire in minutes; their rows go with the day's stored answers
    return idempotency_purge() + member_codes_purge()
