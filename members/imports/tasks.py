"""Celery task of imports: a thin wrapper taking the run's id."""

from celery import shared_task

from members.imports.runner import import_run_execute


@shared_task(name="imports.run_import")
def run_import(run_id: int) -> int:
    return import_run_execute(run_id).rows_done
