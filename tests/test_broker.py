"""Celery for real: a Redis broker and ``celery worker`` processes against the test database.

An import confirmed on the page runs in a worker; the scheduled activation and expiry jobs,
sent as beat sends them, change the balances; a worker killed in the middle of an import (the
whole worker, SIGKILL) leaves its message unacknowledged, and the next worker resumes the job
to the exact totals; a worker killed in the middle of sending messages leaves none unsent and
none sent twice. Transactional: the workers see only what the test committed.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config.celery import app
from members.imports.models import ImportProfile, ImportRun
from members.imports.runner import import_confirm
from members.imports.services import import_preview
from members.messaging.models import Kind, Message, RecordedMessage
from members.messaging.services import LEASE, Outgoing, messages_queue
from members.models import Member
from members.purchases.models import Purchase
from points.models import Account, Lot, Source
from points.selectors import ledger_problems
from points.services import points_earn
from tests.broker import Worker, redis_server
from tests.factories import MemberFactory, StoreFactory

pytestmark = [
    pytest.mark.broker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a second process needs a real server"),
]

HEADER = "门店编码,门店名称,小票号,会员卡号,手机号,交易类型,应收金额,实收金额,交易时间,原小票号,收银员"


@pytest.fixture(scope="module")
def broker_url(tmp_path_factory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def through_broker(settings, broker_url) -> Iterator[str]:
    """This process sends tasks to the broker instead of running them on the spot."""
    before = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    settings.CELERY_BROKER_URL = broker_url
    forget_connections()  # an eager task of an earlier test made them, for the default broker
    app.conf.update(broker_url=broker_url, task_always_eager=False)
    yield broker_url
    app.conf.update(before)  # eager again
    forget_connections()


def forget_connections() -> None:
    """Celery keeps its connection pool (and the producers on it) from the first task sent,
    eager ones included, with the broker URL of that moment: a new URL needs new ones."""
    app._pool = None  # dropped, not closed: kombu's producer pools may still hold it
    app.amqp._producer_pool = None


@pytest.fixture
def start_worker(through_broker, tmp_path) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(visibility_timeout: int = 3600) -> Worker:
        log = tmp_path / f"worker{len(workers) + 1}.log"
        workers.append(Worker(through_broker, log, visibility_timeout=visibility_timeout))
        return workers[-1].wait_ready()

    yield start
    for worker in workers:
        worker.stop()


def pos_export(rows: int, members: int) -> tuple[bytes, int]:
    """Sales at store S0000 two days ago, card holders the programme does not know yet, and the
    points they earn by hand: ¥(100 + i % 97).50 paid earns 100 + i % 97 (1 per CNY, down)."""
    at = timezone.localtime() - datetime.timedelta(days=2)
    lines = [HEADER]
    for i in range(rows):
        paid = f"{100 + i % 97}.50"
        card = f"VIP9{i % members:07d}"
        lines.append(f"S0000,上海徐汇店,R{i:07d},{card},,销售,{paid},{paid},{at:%Y-%m-%d %H:%M:%S},,C01")
    return "\n".join(lines).encode("gbk"), sum(100 + i % 97 for i in range(rows))


def confirm(data: bytes) -> ImportRun:
    """What the import page does: preview the file, then confirm, which queues the job."""
    profile = ImportProfile.objects.get(code="pos_receipts_gbk")
    run = import_preview(profile=profile, data=data, file_name="pos.csv")
    return import_confirm(run=run)


def wait_for(check: Callable[[], bool], worker: Worker, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {seconds} s:\n{worker.output()}"
        time.sleep(0.05)


def balances() -> dict[str, tuple[int, int]]:
    """{point type: (pending, available)} over all members."""
    rows = Account.objects.values("point_type__code").annotate(p=Sum("pending"), a=Sum("available"))
    return {row["point_type__code"]: (row["p"], row["a"]) for row in rows}


def test_an_import_runs_in_a_worker(start_worker):
    worker = start_worker()
    StoreFactory(code="S0000", name="上海徐汇店")
    data, points = pos_export(rows=30, members=10)
    assert points == 30 * 100 + sum(range(30))  # 100..129: 3,435
    run = confirm(data)
    assert run.status == ImportRun.Status.QUEUED

    wait_for(lambda: ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.DONE, worker, 30, "done")
    run.refresh_from_db()
    assert (run.rows_done, run.purchases_created, run.members_created) == (30, 30, 10)
    assert "Task imports.run_import[" in worker.output()
    # two days old: all pending for the seven-day return window, points and growth alike
    assert balances() == {"points": (3435, 0), "growth": (3435, 0)}


def test_beat_sends_the_activation_and_expiry_jobs_to_a_worker(start_worker):
    worker = start_worker()
    member = MemberFactory()
    now = timezone.now()
    earn = {"member": member, "point_type": "points", "source": Source.OPERATOR}
    # ten days ago: its seven-day window is over, still pending until the activation job runs
    points_earn(**earn, amount=100, idempotency_key="due", at=now - datetime.timedelta(days=10))
    # yesterday: pending for six more days, whatever the jobs do
    points_earn(**earn, amount=7, idempotency_key="recent", at=now - datetime.timedelta(days=1))
    # in 2024: valid through 31 Dec 2025 (calendar clear-out after one more year), expired now
    points_earn(
        **earn, amount=40, idempotency_key="old", at=datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC)
    )
    assert balances()["points"] == (147, 0)

    # beat's own scheduler sends the two jobs as it does when their time comes
    scheduler = DatabaseScheduler(app=app)
    for name in ["points-activate-due-lots", "points-expire-due-lots"]:
        entry = scheduler.Entry(PeriodicTask.objects.get(name=name), app=app)
        scheduler.apply_async(entry, producer=scheduler.producer)

    # the 40 of 2024 expire whether activation ran first or not; the 100 become available
    wait_for(lambda: balances()["points"] == (7, 100), worker, 30, "activation and expiry")
    assert sorted(Lot.objects.values_list("amount", "remaining", "status")) == [
        (7, 7, "pending"),
        (40, 0, "available"),  # expired: nothing left
        (100, 100, "available"),
    ]
    assert "Task points.activate_due_lots[" in worker.output()
    assert "Task points.expire_due_lots[" in worker.output()
    assert ledger_problems() == {}


def test_a_worker_killed_mid_import_leaves_the_job_to_the_next_one(start_worker, tmp_path):
    """acks_late: the message is acknowledged when the task ends, so the killed worker never
    acknowledged it; Redis hands it out again after the visibility timeout (3 s here) and the
    second worker resumes the run from its last committed chunk."""
    first = start_worker(visibility_timeout=3)
    StoreFactory(code="S0000", name="上海徐汇店")
    # three chunks of 500 rows (members.imports.runner.CHUNK): killed after the first commits
    data, points = pos_export(rows=1500, members=50)
    run = confirm(data)
    wait_for(lambda: ImportRun.objects.get(pk=run.pk).rows_done >= 500, first, 120, "the first chunk")
    first.kill()

    run.refresh_from_db()
    assert run.status == ImportRun.Status.RUNNING  # nobody marked it: the worker just died
    assert 0 < run.rows_done < 1500, "the import finished before it could be killed: use a larger file"
    assert Purchase.objects.count() == run.purchases_created == run.rows_done

    second = start_worker(visibility_timeout=3)
    wait_for(lambda: ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.DONE, second, 120, "resumed")
    assert "Task imports.run_import[" in second.output()  # the same message, handed out again
    run.refresh_from_db()
    assert (run.rows_done, run.purchases_created, run.members_created) == (1500, 1500, 50)
    assert Purchase.objects.count() == 1500 and Member.objects.count() == 50
    # 1500 rows = 15 × 97 + 45: fifteen runs of 100..196 (14,356 each) and 100..144 (5,490)
    assert points == 15 * 14_356 + 5_490 == 220_830
    assert balances() == {"points": (points, 0), "growth": (points, 0)}
    assert run.points_awarded == {"points": points, "growth": points}
    assert ledger_problems() == {}


def test_a_worker_killed_mid_batch_sends_every_message_exactly_once(start_worker, monkeypatch):
    """The outbox: 300 messages queued in one commit start one send task. The worker is killed
    mid-batch (SIGKILL), leaving the rest of its batch claimed; once the claims' lease has passed
    (made older here instead of waiting five minutes), the next worker, handed the same task
    again, sends them. Each message reaches the (recording) provider exactly once."""
    monkeypatch.setenv("MESSAGING_PROVIDERS", "sms=tests.messaging.slow.SlowRecordingProvider")
    members = [MemberFactory() for _ in range(30)]
    first = start_worker(visibility_timeout=3)
    with transaction.atomic():
        messages_queue(
            [
                Outgoing(member=members[i % 30], channel="sms", body=f"#{i}", key=f"k{i}", kind=Kind.SERVICE)
                for i in range(300)
            ]
        )
    wait_for(lambda: RecordedMessage.objects.count() >= 100, first, 60, "the first hundred sent")
    first.kill()
    assert RecordedMessage.objects.count() < 300, "all were sent before the kill: use more messages"
    claimed = Message.objects.filter(status=Message.Status.SENDING)
    assert claimed.exists()  # the killed worker's batch, claimed and not sent
    claimed.update(claimed_at=F("claimed_at") - LEASE - datetime.timedelta(seconds=1))

    second = start_worker(visibility_timeout=3)
    wait_for(lambda: Message.objects.filter(status="sent").count() == 300, second, 120, "every message sent")
    assert "Task messaging.send_due[" in second.output()
    recorded = list(RecordedMessage.objects.values_list("message_id", flat=True))
    assert sorted(recorded) == sorted(Message.objects.values_list("pk", flat=True))  # once each
