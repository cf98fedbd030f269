"""The expiry-reminder journey for 100,000 members at a million: queueing and rendering, then
sending with two workers; ours against the plain SQL floor and the naive way, side by side.

    DEBUG=1 DATABASE_URL=postgres://... .venv/bin/python tests/benchmarks/journeys.py [--members 100000]

(on a database seeded by ``manage.py seed_scale``; an empty one is seeded first, about 45 minutes.)

The journey is the shipped "积分到期提醒（7天）" with no control group, limited to a static segment
of ``--members`` members who have points and a phone; "now" is set a week before the seeded
calendar clear-out, so each of them has points expiring. Measured, each in the same run:

- **queue**: ``journeys_run`` (entries, the render of every message with its amount, date and
  reward, the outbox rows) in messages/s; the floor is one INSERT … SELECT of the same rows with
  a fixed text (what writing the outbox costs at all); the naive way is a loop of
  ``message_queue`` per member with ``preview_values`` (timed on 2,000 members).
- **send**: two worker processes running ``messages_send_due`` to the recording provider until
  the outbox is empty, in messages/s; the floor is one INSERT … SELECT into the recordings and
  one UPDATE of the statuses.

The budget: ≥ 2,000 messages/s queued and rendered, ≥ 1,000/s sent with two workers. Everything
the run wrote is deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import sys
import time
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import one, say, sql, table  # sets Django up

from django.core.management import call_command
from django.db import connection, connections

from campaigns.journeys.context import preview_values
from campaigns.journeys.models import Journey, JourneyEntry
from campaigns.journeys.services import journeys_run
from campaigns.segments.models import Segment, SegmentMember
from members.messaging.models import Message, MessagingSettings, RecordedMessage, Template
from members.messaging.rendering import render
from members.messaging import services as messaging_services
from members.messaging.services import Outgoing, message_queue, messages_send_due
from members.models import Member

# isort: on

SEGMENT = "benchmark: expiry reminder"


def prepare(count: int) -> tuple[Journey, datetime.datetime]:
    """The journey live, limited to ``count`` members with points and a phone; "now" a week
    before the soonest expiry of the seeded points."""
    soonest = one("SELECT min(expires_at) FROM points_lot WHERE remaining > 0 AND expires_at > now()")
    now = soonest - datetime.timedelta(days=6)
    Journey.objects.filter(segment__name=SEGMENT).update(segment=None)  # an interrupted run's
    Segment.objects.filter(name=SEGMENT).delete()
    segment = Segment.objects.create(name=SEGMENT, kind=Segment.Kind.STATIC)
    sql(
        """INSERT INTO segments_segmentmember (segment_id, member_id, added_at)
        SELECT %s, m.id, now() FROM members_member m WHERE m.status = 'active' AND m.mobile IS NOT NULL
        AND m.mobile <> '' AND EXISTS (SELECT 1 FROM points_lot l JOIN points_account a ON a.id = l.account_id
            WHERE a.member_id = m.id AND l.remaining > 0 AND l.expires_at > %s AND l.expires_at <= %s)
        ORDER BY m.id LIMIT %s""",
        [segment.pk, now, now + datetime.timedelta(days=7), count],
    )
    journey = Journey.objects.get(code="points-expiring-7")
    Journey.objects.filter(pk=journey.pk).update(
        status="active", holdout_percent=0, segment=segment, starts_at=now - datetime.timedelta(days=1)
    )
    settings = MessagingSettings.current()
    settings.quiet_from = settings.quiet_until  # the benchmark sends whatever the hour
    settings.save()
    journey.refresh_from_db()
    return journey, now


def clean(journey: Journey) -> None:
    RecordedMessage.objects.filter(message__source__startswith="benchmark").delete()
    RecordedMessage.objects.filter(message__source=f"journey:{journey.code}").delete()
    Message.objects.filter(source__startswith="benchmark").delete()
    Message.objects.filter(source=f"journey:{journey.code}").delete()
    JourneyEntry.objects.filter(journey=journey).delete()


def floor_queue(journey: Journey, now: datetime.datetime) -> float:
    template = Template.objects.get(code="points-expiring", channel="sms", language="zh-hans")
    start = time.perf_counter()
    sql(
        """INSERT INTO messaging_message (member_id, channel, kind, template_id, source, key, recipient,
            subject, body, status, reason, send_after, attempts, provider_ref, last_error, created_at)
        SELECT m.id, 'sms', 'marketing', %s, 'benchmark-floor', 'floor:' || m.id, m.mobile, '', %s,
            'blocked', 'benchmark', %s, 0, '', '', %s
        FROM segments_segmentmember s JOIN members_member m ON m.id = s.member_id WHERE s.segment_id = %s""",
        [template.pk, template.body, now, now, journey.segment_id],
    )
    return time.perf_counter() - start


def naive_queue(journey: Journey, now: datetime.datetime, sample: int) -> float:
    template = Template.objects.get(code="points-expiring", channel="sms", language="zh-hans")
    members = Member.objects.filter(
        pk__in=SegmentMember.objects.filter(segment_id=journey.segment_id).values("member_id")[:sample]
    )
    start = time.perf_counter()
    for member in members:
        values = preview_values(member, template.channel, template.language)
        message_queue(
            Outgoing(
                member=member, channel="sms", body=render(template.body, values), key=f"naive:{member.pk}",
                source="benchmark-naive", template=template,
            ),
            now=now,
        )  # fmt: skip
    return time.perf_counter() - start


def _worker(now: datetime.datetime) -> None:
    connections.close_all()
    while messages_send_due(batch=500, seconds=600, now=now):
        pass


def send(now: datetime.datetime, workers: int) -> float:
    connections.close_all()
    start = time.perf_counter()
    processes = [multiprocessing.Process(target=_worker, args=(now,)) for _ in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return time.perf_counter() - start


def floor_send(journey: Journey) -> float:
    start = time.perf_counter()
    sql(
        """INSERT INTO messaging_recordedmessage
            (message_id, channel, recipient, subject, body, recorded_at, worker)
        SELECT id, channel, recipient, subject, body, now(), 'floor' FROM messaging_message
        WHERE source = 'benchmark-floor'"""
    )
    sql("UPDATE messaging_message SET status = 'sent', sent_at = now() WHERE source = 'benchmark-floor'")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=2_000, help="members the naive loop is timed on")
    args = parser.parse_args()
    if not Member.objects.exists():
        say("seeding (about 45 minutes)")
        call_command("seed_scale")
    journey, now = prepare(args.members)
    clean(journey)
    members = SegmentMember.objects.filter(segment_id=journey.segment_id).count()
    say(f"{Member.objects.count():,} members; {members:,} in the journey's segment; now = {now:%Y-%m-%d}")
    with connection.cursor() as cursor:
        # the last run's deleted rows: vacuumed now rather than by autovacuum in the middle of this one
        for table_name in ("messaging_message", "messaging_recordedmessage", "journeys_journeyentry"):
            cursor.execute(f"VACUUM {table_name}")
        cursor.execute("ANALYZE")
    # Each chunk's commit wakes the send workers: a broker publish in production, but without a
    # broker the task runs here, in the middle of the timing; the sending is timed below.
    messaging_services._kick = lambda: None
    try:
        started = time.perf_counter()
        journeys_run(now=now)
        ours = time.perf_counter() - started
        queued = Message.objects.filter(source=f"journey:{journey.code}")
        written = queued.count()
        sendable = queued.filter(status=Message.Status.QUEUED).count()
        floor = floor_queue(journey, now)
        naive = naive_queue(journey, now, args.naive)
        rate, floor_rate, naive_rate = written / ours, members / floor, args.naive / naive
        table(
            ["queue and render", "messages", "seconds", "messages/s", "ours ÷ floor (time per message)"],
            [
                ["ours: journeys_run", f"{written:,}", f"{ours:.1f}", f"{rate:,.0f}",
                 f"{floor_rate / rate:.1f}×"],
                ["floor: INSERT … SELECT", f"{members:,}", f"{floor:.1f}", f"{floor_rate:,.0f}", "1.0×"],
                ["naive: message_queue per member", f"{args.naive:,}", f"{naive:.1f}", f"{naive_rate:,.0f}",
                 f"{floor_rate / naive_rate:.1f}×"],
            ],
        )  # fmt: skip
        say(f"{sendable:,} of {written:,} queued to send (the rest: no SMS consent, kept as not sent)")
        seconds = send(now, 2)
        sent = RecordedMessage.objects.filter(message__source=f"journey:{journey.code}").count()
        send_floor = floor_send(journey)
        table(
            ["send (recording provider)", "messages", "seconds", "messages/s", "ours ÷ floor"],
            [
                ["ours: 2 workers, messages_send_due", f"{sent:,}", f"{seconds:.1f}",
                 f"{sent / seconds:,.0f}",
                 f"{(members / send_floor) / (sent / seconds):.1f}×"],
                ["floor: INSERT … SELECT + UPDATE", f"{members:,}", f"{send_floor:.1f}",
                 f"{members / send_floor:,.0f}", "1.0×"],
            ],
        )  # fmt: skip
    finally:
        clean(journey)
        Journey.objects.filter(pk=journey.pk).update(status="draft", segment=None)
        Segment.objects.filter(name=SEGMENT).delete()


if __name__ == "__main__":
    main()
