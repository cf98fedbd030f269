"""Referral campaigns (以老带新) in the pipeline: a referee's first purchase rewards the referrer.

A purchase of a member with a referral not yet settled, while a campaign with the referral
trigger is live, locks the member and the referrer in one statement, in primary-key order (the
referral's referrer is a subquery of the lock: members who were not referred cost nothing more,
and nothing at all when no referral campaign is live). Under those locks:

- the referral is settled: the purchase is the referee's first (no purchase of theirs happened
  before it) or not; either way later purchases never look at the referrer again;
- on a first purchase, the referrer's award (key ``referral:<referee id>``, so a retried or
  re-imported purchase rewards once per referee; its ledger keys ``referral:<referee id>:points``)
  is evaluated and posted by the single path's ``_process`` like any lifecycle award, with the
  referrer's own caps: "times per member" counts the referees that rewarded them, in the whole
  campaign or per month or year. Both members' points accounts are locked first, in primary-key
  order, since the referee's and the referrer's posts are two.

The reward is the referrer's, not the purchase's: it is not among what the purchase's answer
explains (that is the purchase's member's), and a refund of the purchase does not take it back.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import selectors
from campaigns.earning import engine
from campaigns.models import Award, Campaign
from members.models import Member
from members.purchases.models import Purchase
from members.referrals.models import Referral
from points.services.common import lock_accounts_many

KEY = "referral"


def lock_member(
    locked: QuerySet[Member], member_id: int, *, book: selectors.RuleBook, purchase: bool
) -> tuple[Member, Member | None]:
    """The member, locked by ``locked`` (the pipeline's FOR NO KEY UPDATE), and for a purchase
    while a referral campaign is live the referrer of their unsettled referral, locked with it in
    primary-key order in the same statement. ``member.referred`` is set when a campaign asks for
    it (one EXISTS in the same statement)."""
    if book.uses_referred:
        locked = locked.annotate(referred=Exists(Referral.objects.filter(referee_id=OuterRef("pk"))))
    if not (purchase and book.uses_referrals):
        return locked.get(pk=member_id), None
    unsettled = Referral.objects.filter(referee_id=member_id, settled_at__isnull=True).values("referrer_id")
    rows = {m.pk: m for m in locked.filter(Q(pk=member_id) | Q(pk__in=unsettled)).order_by("pk")}
    member = rows.pop(member_id)
    return member, next(iter(rows.values()), None)


def referral_fact(purchase: Purchase) -> engine.Fact:
    """The referee's purchase as the referral campaigns see it: its time, channel, store and
    amounts (the basket is not read)."""
    fact = selectors.purchase_fact(purchase, lines=False)
    return dataclasses.replace(fact, triggers=frozenset({Campaign.Trigger.REFERRAL}))


def referral_reward(
    purchase_award: Award,
    referee: Member,
    referrer: Member,
    book: selectors.RuleBook,
    at: datetime.datetime,
    process: Callable[..., Award],
) -> Award | None:
    """Settle the referee's referral on this purchase and, on their first purchase, award the
    referrer (``process``: the pipeline's ``_process``). Called under both members' locks."""
    purchase = purchase_award.purchase
    assert purchase is not None  # a purchase's award
    earlier = Purchase.objects.filter(member_id=referee.pk).filter(
        Q(occurred_at__lt=purchase.occurred_at) | Q(occurred_at=purchase.occurred_at, pk__lt=purchase.pk)
    )
    first = not earlier.exists()
    Referral.objects.filter(referee=referee, settled_at__isnull=True).update(
        settled_at=at, first_purchase=purchase if first else None
    )
    if not first or referrer.status == Member.Status.CLOSED or referrer.merged_into_id is not None:
        return None
    lock_accounts_many((m, pt) for m in sorted({referee.pk, referrer.pk}) for pt in book.point_types.values())
    fact = referral_fact(purchase)
    return process(
        award=Award(
            key=f"{KEY}:{referee.pk}",
            kind=Award.Kind.LIFECYCLE,
            member_id=referrer.pk,
            reason=(_("Referral: first purchase of member %(number)s") % {"number": referee.member_number})[
                :100
            ],
            occurred_at=fact.at,
            created_at=at or timezone.now(),
        ),
        fact=fact,
        book=book,
        evaluate=lambda state, usage: engine.evaluate(fact, state, offers=book.offers, usage=usage),
    )
