import pytest
from members.imports.files import column_labels, row_message
from tests.imports.conftest import preview


def test_pos(sample_stores, settings, tmp_path, operator):
    settings.MEDIA_ROOT = tmp_path
    run = preview("pos_receipts_gbk", user=operator)
    print(
        run.store,
        run.allowed_stores,
        run.rows_total,
        run.rows_ok,
        run.rows_rejected,
        run.rows_skipped,
        run.rows_duplicate,
    )
    labels = column_labels(run)
    for r in run.rows.filter(state__in=["rejected", "skipped", "duplicate"])[:8]:
        print(r.number, r.state, row_message(r, labels))
    print(run.rows.first().values)
