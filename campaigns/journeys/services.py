"""Running journeys: let members in, walk them through the steps, record what happened.

``journeys_run`` (the job, every ten minutes) starts and ends journeys by their dates, lets the
trigger's new members in (``triggers.arrivals``) and then moves every due entry on. Entries move
in chunks, each in one transaction that takes the chunk's entries with SKIP LOCKED (two runs at
once never take the same entry), locks their members in primary-key order (as a purchase does,
before any account), performs each step for the whole chunk at once and writes where every entry
now is. The message queued, the coupon issued, the points given and the entry's new position
commit together: a run killed half-way did nothing for that chunk, and the next run does it once.
Members of the control group enter and are counted, and receive nothing.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from itertools import groupby

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from benefits.coupons import coupons_issue
from benefits.models import Coupon
from campaigns.earning.engine import in_control
from campaigns.journeys.context import member_values
from campaigns.journeys.models import Journey, JourneyEntry, JourneyStep
from campaigns.journeys.triggers import arrivals
from campaigns.models import Campaign
from campaigns.segments.selectors import segment_members
from campaigns.services import lifecycle_due
from config.common.bulk import bulk_insert_new, bulk_set
from members.messaging.rendering import placeholders, render
from members.messaging.services import Outgoing, members_for_messages, messages_queue
from members.models import Member
from members.purchases.models import Purchase
from members.tagging import tag_members
from points.models import Source
from points.services.ledger import EarnRequest, points_earn_bulk

S = JourneyEntry.Status
CHUNK = 1000
#: Entries let in per statement, each its own transaction (a run beside this one, inserting the
#: same occurrences, waits for one chunk at most).
ENTER_CHUNK = 10_000
LIVE = Campaign.Status.ACTIVE


def journey_source(journey: Journey) -> str:
    """What a journey's messages, coupons and points say they came from."""
    return f"journey:{journey.code}"


def journey_enter(journey: Journey, *, now: datetime.datetime | None = None) -> int:
    """Let in the members the trigger finds now; returns how many entered (control group too).
    An occurrence already entered (by this run or one beside it) is skipped by the constraint."""
    now = now or timezone.now()
    found = arrivals(journey, now)
    entered = 0
    for start in range(0, len(found), ENTER_CHUNK):
        rows = []
        for arrival in found[start : start + ENTER_CHUNK]:
            control = in_control(f"journey-{journey.pk}", arrival.member_id, journey.holdout_percent)
            rows.append(
                JourneyEntry(
                    journey_id=journey.pk,
                    member_id=arrival.member_id,
                    occurrence=arrival.occurrence,
                    coupon_id=arrival.coupon_id,
                    status=S.CONTROL if control else S.ACTIVE,
                    entered_at=now,
                    due_at=now,
                    finished_at=now if control else None,
                )
            )
        entered += bulk_insert_new(rows)
    return entered


def journeys_advance(*, now: datetime.datetime | None = None, chunk: int = CHUNK) -> int:
    """Move every due entry of live journeys on, until none is due; returns how many moved."""
    now = now or timezone.now()
    moved = 0
    journeys: dict[int, Journey] = {}  # with their steps: read once a run, not once a chunk
    while True:
        with transaction.atomic():
            entries = list(
                JourneyEntry.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=S.ACTIVE, due_at__lte=now, journey__status=LIVE)
                .select_related("coupon__benefit")
                .order_by("due_at", "pk")[:chunk]
            )
            if not entries:
                return moved
            _advance(entries, journeys, now)
            moved += len(entries)


def _advance(entries: list[JourneyEntry], journeys: dict[int, Journey], now: datetime.datetime) -> None:
    """Move ``entries`` on as far as they go now. ``journeys``: those read so far (with their
    steps), added to when an entry is of another."""
    members = {
        m.pk: m
        for m in members_for_messages(
            Member.objects.select_for_update()
            .filter(pk__any=sorted({e.member_id for e in entries}))
            .order_by("pk")
        )
    }
    if unread := {e.journey_id for e in entries} - journeys.keys():
        journeys.update(
            (j.pk, j)
            for j in Journey.objects.filter(pk__in=unread).prefetch_related(
                "steps__template", "steps__benefit", "steps__point_type", "steps__tag", "steps__segment"
            )
        )
    steps = {pk: list(j.steps.all()) for pk, j in journeys.items()}
    pending = _exits(entries, members, journeys, now)
    while pending:
        after: list[JourneyEntry] = []
        pending.sort(key=lambda e: (e.journey_id, e.position, e.pk))
        for (journey_id, position), group in groupby(pending, key=lambda e: (e.journey_id, e.position)):
            batch = list(group)
            journey_steps = steps[journey_id]
            if position > len(journey_steps):
                _finish(batch, S.COMPLETED, "", now)
                continue
            step = journey_steps[position - 1]
            after.extend(_perform(journeys[journey_id], step, batch, members, now))
        pending = after
    _save_moves(entries)


def _save_moves(entries: list[JourneyEntry]) -> None:
    """Where each entry now is, and the coupon it was given (COPY and one UPDATE: ``bulk_update``
    writes a CASE per row and column, most of a chunk's time)."""
    bulk_set(entries, ["status", "exit_reason", "position", "due_at", "finished_at", "coupon"])


def _exits(
    entries: list[JourneyEntry],
    members: dict[int, Member],
    journeys: dict[int, Journey],
    now: datetime.datetime,
) -> list[JourneyEntry]:
    """Entries that leave before their next step: the member is no longer active, or bought
    since entering a journey that ends on a purchase. The rest go on."""
    buyers = {e.pk: e for e in entries if journeys[e.journey_id].exit_on_purchase}
    bought: dict[int, datetime.datetime] = {}
    if buyers:
        purchases = (
            Purchase.objects.filter(
                member_id__any={e.member_id for e in buyers.values()},
                occurred_at__gte=min(e.entered_at for e in buyers.values()),
            )
            .exclude(status=Purchase.Status.REFUNDED)
            .values_list("member_id", "occurred_at")
        )
        for member_id, at in purchases:
            bought[member_id] = max(at, bought.get(member_id, at))
    going = []
    for entry in entries:
        if members[entry.member_id].status != Member.Status.ACTIVE:
            _finish([entry], S.EXITED, JourneyEntry.Exit.INACTIVE, now)
        elif entry.pk in buyers and bought.get(entry.member_id, entry.entered_at) > entry.entered_at:
            _finish([entry], S.EXITED, JourneyEntry.Exit.PURCHASE, now)
        else:
            going.append(entry)
    return going


def _finish(entries: Sequence[JourneyEntry], status: str, reason: str, now: datetime.datetime) -> None:
    for entry in entries:
        entry.status, entry.exit_reason, entry.finished_at = status, reason, now


def _perform(
    journey: Journey,
    step: JourneyStep,
    batch: list[JourneyEntry],
    members: dict[int, Member],
    now: datetime.datetime,
) -> list[JourneyEntry]:
    """Do ``step`` for ``batch``; returns the entries that go straight on to their next step (a
    wait stops them until it is over, a failed condition lets them out)."""
    kind = JourneyStep.Kind
    for entry in batch:
        entry.position += 1
    if step.kind == kind.WAIT:
        for entry in batch:
            entry.due_at = now + datetime.timedelta(days=step.wait_days or 0)
        return []
    if step.kind == kind.CONDITION:
        assert step.segment is not None
        inside = set(
            segment_members(step.segment, now=now)
            .filter(pk__any=[e.member_id for e in batch])
            .values_list("pk", flat=True)
        )
        _finish([e for e in batch if e.member_id not in inside], S.EXITED, JourneyEntry.Exit.CONDITION, now)
        return [e for e in batch if e.member_id in inside]
    if step.kind == kind.MESSAGE:
        _message(journey, step, batch, members, now)
    elif step.kind == kind.COUPON:
        _coupons(journey, step, batch, now)
    elif step.kind == kind.POINTS:
        _points(journey, step, batch, now)
    elif step.kind == kind.TAG:
        assert step.tag is not None
        tag_members(step.tag, Member.objects.filter(pk__in=[e.member_id for e in batch]))
    return batch


def _message(
    journey: Journey,
    step: JourneyStep,
    batch: list[JourneyEntry],
    members: dict[int, Member],
    now: datetime.datetime,
) -> None:
    template = step.template
    assert template is not None
    names = set(placeholders(template.subject)) | set(placeholders(template.body))
    chosen = [members[e.member_id] for e in batch]
    values = member_values(
        chosen,
        names,
        channel=template.channel,
        language=template.language,
        coupons={e.member_id: e.coupon for e in batch if e.coupon is not None},
        now=now,
    )
    messages_queue(
        [
            Outgoing(
                member=members[entry.member_id],
                channel=template.channel,
                subject=render(template.subject, values[entry.member_id]),
                body=render(template.body, values[entry.member_id]),
                # the entry and the step: the same message is never queued twice
                key=f"journey:{entry.pk}:{entry.position - 1}",
                source=journey_source(journey),
                template=template,
            )
            for entry in batch
        ],
        now=now,
        locked=True,  # _advance locked and read them
    )


def _coupons(journey: Journey, step: JourneyStep, batch: list[JourneyEntry], now: datetime.datetime) -> None:
    assert step.benefit is not None
    coupons = coupons_issue(
        [e.member_id for e in batch], benefit=step.benefit, origin=Coupon.Origin.CAMPAIGN, at=now
    )
    for entry, coupon in zip(batch, coupons, strict=True):
        entry.coupon = coupon


def _points(journey: Journey, step: JourneyStep, batch: list[JourneyEntry], now: datetime.datetime) -> None:
    assert step.point_type is not None and step.points
    points_earn_bulk(
        [
            EarnRequest(
                member_id=entry.member_id,
                amounts={step.point_type: step.points},
                source=Source.CAMPAIGN,
                source_ref=f"{journey_source(journey)}:{entry.pk}",
                key=f"journey:{entry.pk}:{entry.position - 1}",
                reason=journey.name,
            )
            for entry in batch
        ],
        at=now,
    )


def journeys_close_ended(*, now: datetime.datetime | None = None) -> int:
    """Entries still walking a journey that ended leave it."""
    now = now or timezone.now()
    ended = Journey.objects.filter(pk=OuterRef("journey_id"), status=Campaign.Status.ENDED)
    return JourneyEntry.objects.filter(Exists(ended), status=S.ACTIVE).update(
        status=S.EXITED, exit_reason=JourneyEntry.Exit.ENDED, finished_at=now
    )


def journeys_run(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """The job: dates, arrivals, steps. Safe to rerun and to run beside itself."""
    now = now or timezone.now()
    moved = lifecycle_due(Journey, now)
    entered: dict[int, int] = defaultdict(int)
    for journey in Journey.objects.filter(status=LIVE, starts_at__lte=now, ends_at__gt=now).select_related(
        "segment"
    ):
        entered[journey.pk] = journey_enter(journey, now=now)
    advanced = journeys_advance(now=now)
    closed = journeys_close_ended(now=now)
    return {
        "started_or_ended": moved,
        "entered": sum(entered.values()),
        "advanced": advanced,
        "closed": closed,
    }
