"""Celery tasks of members: thin wrappers taking ids."""

from celery import shared_task

from members.imports.runner import import_run_execute


@shared_task(name="members.run_import")
def run_import(run_id: int) -> int:
    return import_run_execute(run_id).rows_done


@shared_task(name="members.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    from members.partners.codes import member_codes_purge
    from members.partners.services import idempotency_purge

    # member codes expire in minutes; their rows go with the day's stored answers
    return idempotency_purge() + member_codes_purge()
