"""The earning pipeline for many purchases at once (imports): the same awards, lines, ledger
entries and tiers as ``purchase_process`` called once per purchase in order, in a few set-based
statements per chunk instead of ~23 queries per purchase.

Purchases are taken in waves: the k-th purchase of each member in the chunk goes into wave k,
so within a wave every member appears once and a member's purchases still follow each other
(what the first one did to their tier is seen by the second). A wave locks its members, then
their accounts, then their tier rows, each in primary-key order: the order every single-fact
writer uses, so batches and single facts never deadlock.

What a wave cannot decide on its own falls back to ``purchase_process`` per purchase, so the
result stays the same by construction:
- campaigns with limits or budgets (they need the usage of the moment, purchase by purchase),
  campaigns that grant coupons, campaigns for first purchases or referred members;
- the purchases of referees whose referral is not settled yet, while a referral campaign is
  live (``campaigns.earning.referrals``: the referrer is locked and rewarded too);
- closed members (the single path refuses them with the reason);
- members whose tier may move (``tiers.selectors.refresh_needed``): their tier refresh, and
  the upgrade's coupons and campaigns, run through the single path's ``_after_growth``.

No rule is written here: every row a wave writes is built by the single path's functions
(``purchase_award``, ``purchase_evaluate``, ``_line``, ``holds``,
``participations``, ``earn_request``); a wave only reads and writes them set-based.
"""

from __future__ import annotations

import datetime
import itertools
from collections import defaultdict
from collections.abc import Sequence

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from campaigns import selectors
from campaigns.earning import engine
from campaigns.earning.holds import award_hold, hold_reason, review_over
from campaigns.earning.pipeline import (
    _after_growth,
    _line,
    earn_request,
    participations,
    purchase_award,
    purchase_evaluate,
    purchase_process,
)
from campaigns.models import Award, AwardReview, Participation
from campaigns.risk.inline import velocity_case, velocity_fired
from campaigns.webhooks import awards_emit
from config.common.bulk import bulk_insert
from members.models import Member
from members.purchases.models import Purchase
from members.referrals.models import Referral
from members.webhooks.models import EventType
from points.services.ledger import points_earn_bulk
from tiers.selectors import refresh_needed
from tiers.services import lock_statuses


def batchable(book: selectors.RuleBook) -> bool:
    """Whether the set-based path gives what the single path gives, for this rule book."""
    return not any(
        offer.budgeted
        or offer.benefit_id
        or offer.first_purchase
        or offer.referred_only
        or offer.member_max_times is not None
        or offer.member_max_points is not None
        or offer.member_daily_points is not None
        for offer in book.offers
    )


def purchases_process_many(
    purchases: Sequence[Purchase], *, book: selectors.RuleBook, at: datetime.datetime | None = None
) -> list[Award]:
    """Award every purchase, in order; returns their awards (a purchase done before: its award)."""
    at = at or timezone.now()
    books = [selectors.book_at(book, purchase.occurred_at) for purchase in purchases]
    if any(other is not book for other in books):
        # late facts earn by the settings of their time: each run of purchases with one book
        runs: list[Award] = []
        for then, run in itertools.groupby(zip(books, purchases, strict=True), key=lambda pair: pair[0]):
            runs += purchases_process_many([purchase for _book, purchase in run], book=then, at=at)
        return runs
    if not batchable(book):
        return [purchase_process(purchase, at=at, book=book) for purchase in purchases]
    # A referee whose first purchase may reward their referrer takes the single path (it locks
    # and awards the referrer too): one query a chunk, only while a referral campaign is live.
    referees = (
        set(
            Referral.objects.filter(
                referee_id__any=sorted({p.member_id for p in purchases}), settled_at__isnull=True
            ).values_list("referee_id", flat=True)
        )
        if book.uses_referrals
        else set()
    )
    single = {p.pk: purchase_process(p, at=at, book=book) for p in purchases if p.member_id in referees}
    waves: list[list[Purchase]] = []
    seen: dict[int, int] = defaultdict(int)
    for purchase in (p for p in purchases if p.pk not in single):
        index = seen[purchase.member_id]
        seen[purchase.member_id] += 1
        if index == len(waves):
            waves.append([])
        waves[index].append(purchase)
    awards: dict[int, Award] = dict(single)
    for wave in waves:
        awards.update(_wave(wave, book, at))
    return [awards[purchase.pk] for purchase in purchases]


def _wave(purchases: list[Purchase], book: selectors.RuleBook, at: datetime.datetime) -> dict[int, Award]:
    keys = {purchase.pk: f"purchase:{purchase.pk}" for purchase in purchases}
    with transaction.atomic():
        members = {
            m.pk: m
            for m in Member.objects.select_for_update(no_key=True)
            .filter(pk__in=[p.member_id for p in purchases])
            .order_by("pk")
        }
        done = {
            award.purchase_id: award
            for award in Award.objects.filter(key__in=keys.values())
            if award.purchase_id is not None  # always: these are purchases' awards
        }
        if any(member.status == Member.Status.CLOSED for member in members.values()):
            return {p.pk: purchase_process(p, at=at, book=book) for p in purchases}  # says who and why
        todo = [p for p in purchases if p.pk not in done]
        if book.uses_lines:
            prefetch_related_objects(todo, "lines")
        states = selectors.member_states(list(members.values()), book)
        made: list[tuple[Purchase, Award, engine.Outcome]] = []
        cases = [
            (selectors.purchase_fact(p, lines=book.uses_lines), states[p.member_id](p.occurred_at))
            for p in todo
        ]
        # the targeted segments: one query per segment for the wave's members, as of its first fact
        targeted = selectors.with_segments(cases, book)
        for purchase, (fact, _state), state in zip(todo, cases, targeted, strict=True):
            # usage={}: a batchable book has no limits that would read it
            outcome = purchase_evaluate(purchase, fact, state, book, {})
            made.append((purchase, purchase_award(purchase, at), outcome))
        bulk_insert([award for _p, award, _o in made])
        fired = velocity_fired([(award, outcome) for _p, award, outcome in made], book.risk_rules)
        held = {
            purchase.pk: (over, reason)
            for i, (purchase, award, outcome) in enumerate(made)
            if (
                reason := hold_reason(
                    members[purchase.member_id],
                    award,
                    outcome,
                    over := review_over(award, outcome, book),
                    fired.get(i, []),
                )
            )
        }
        for i, rules_fired in sorted(fired.items()):
            for each in rules_fired:
                velocity_case(each, members[made[i][1].member_id], made[i][1], at)
        bulk_insert([_line(award, line, book) for _p, award, outcome in made for line in outcome.lines])
        Participation.objects.bulk_create(
            [each for _p, award, outcome in made for each in participations(award, outcome)],
            ignore_conflicts=True,
        )
        AwardReview.objects.bulk_create(
            [award_hold(award, outcome, *held[p.pk]) for p, award, outcome in made if p.pk in held]
        )
        points_earn_bulk(
            [
                earn_request(award, outcome.totals(), book, at)
                for purchase, award, outcome in made
                if purchase.pk not in held
            ],
            at=at,
        )
        awards_emit(
            EventType.PURCHASE_AWARDED,
            [(award, outcome.totals()) for purchase, award, outcome in made if purchase.pk not in held],
            at,
        )
        before = {p.member_id: states[p.member_id](p.occurred_at) for p, _a, _o in made}
        policy = book.policy
        assert policy is not None  # selectors.rule_book loads it
        statuses = lock_statuses([members[m] for m in before], at, policy, book.entry_tier)
        tiers = list(book.tiers.values())
        needed = refresh_needed({m: statuses[m] for m in before}, at, policy, tiers)
        # The single path also acts when the tier already stored is above the one the purchase
        # was earned in (a purchase from before an upgrade): its coupons and campaigns, once.
        needed |= {
            m for m, s in statuses.items() if m in before and book.tiers[s.tier_id].rank > before[m].tier_rank
        }
        caused_by = {award.member_id: award for _p, award, _o in made}  # one purchase per member a wave
        for member_id in sorted(needed):
            _after_growth(
                members[member_id], before[member_id].tier_rank, book, at, cause=caused_by[member_id]
            )
    return {**done, **{purchase.pk: award for purchase, award, _o in made}}
