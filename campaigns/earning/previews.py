"""What a basket would earn, explained, with nothing written: checkout pages and the API."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from benefits.models import Benefit
from campaigns import selectors
from campaigns.earning import answers, engine, explain
from campaigns.earning.usage import usage_of
from campaigns.models import Campaign
from members.models import Member, Store
from members.purchases.models import Purchase


@dataclass(frozen=True)
class Preview:
    outcome: engine.Outcome
    texts: list[str]
    totals: dict[str, int]


def purchase_preview(
    member: Member,
    *,
    channel: str,
    paid: Decimal,
    gross: Decimal | None = None,
    store: Store | None = None,
    shipping: Decimal = Decimal(0),
    gift_card: Decimal = Decimal(0),
    points_amount: Decimal = Decimal(0),
    lines: Iterable[tuple[str, str, Decimal]] = (),
    at: datetime.datetime | None = None,
    book: selectors.RuleBook | None = None,
) -> Preview:
    """The lines processing this basket now would give (lines are (SKU, category, amount))."""
    at = at or timezone.now()
    book = book or selectors.rule_book()
    basket = Purchase(
        paid_amount=paid,
        gross_amount=gross or paid,
        shipping_amount=shipping,
        gift_card_amount=gift_card,
        points_amount=points_amount,
    )
    fact = engine.Fact(
        triggers=frozenset({Campaign.Trigger.PURCHASE}),
        at=at,
        local=timezone.localtime(at),
        channel=channel,
        store_id=store.pk if store else None,
        paid=paid,
        eligible=basket.eligible_amount,
        lines=tuple(
            engine.BasketLine(sku=sku, category=category, amount=amount) for sku, category, amount in lines
        ),
    )
    first = book.uses_first_purchase and selectors.is_first_purchase(member.pk, at)
    state = selectors.member_state(member, book, at, first_purchase=first, fact=fact)
    base = book.base_for(channel, fact.store_id)
    matched = engine.evaluate(fact, state, base=base, offers=book.offers).matched
    usage = usage_of(member.pk, book.campaigns, matched, at)
    outcome = engine.evaluate(fact, state, base=base, offers=book.offers, usage=usage)
    return Preview(outcome=outcome, texts=outcome_texts(outcome, book), totals=_totals(outcome))


def _unit(line: engine.Line, book: selectors.RuleBook) -> str:
    """The line's point type's name (the engine's lines all have one; "" as ``line_text`` says)."""
    return book.point_types[line.point_type].name if line.point_type is not None else ""


def outcome_texts(outcome: engine.Outcome, book: selectors.RuleBook) -> list[str]:
    texts = [
        explain.describe(line.kind, line.amount, _unit(line, book), line.params) for line in outcome.lines
    ]
    names = dict(Benefit.objects.filter(pk__in=[b for _c, b in outcome.coupons]).values_list("pk", "name"))
    for campaign_id, benefit_id in outcome.coupons:
        params = {"campaign": book.campaigns[campaign_id].name}
        texts.append(explain.describe("campaign", 0, "", params, coupon=names[benefit_id]))
    return texts


def preview_summary(preview: Preview, book: selectors.RuleBook) -> answers.AwardSummary:
    """The preview's lines as the API shows an award's: the same order the pipeline stores them."""
    points = [
        answers.ExplainedLine(
            kind=line.kind,
            point_type=line.point_type,
            amount=line.amount,
            campaign=answers.campaign_name(line.campaign_id, line.params),
            explanation=text,
        )
        for line, text in zip(preview.outcome.lines, preview.texts, strict=False)
    ]
    coupons = [
        answers.ExplainedLine(
            kind="campaign",
            point_type=None,
            amount=0,
            campaign=book.campaigns[campaign_id].name,
            explanation=text,
        )
        for (campaign_id, _benefit), text in zip(
            preview.outcome.coupons, preview.texts[len(preview.outcome.lines) :], strict=True
        )
    ]
    return answers.summary_of(points + coupons)


def _totals(outcome: engine.Outcome) -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in outcome.lines:
        if line.point_type:
            totals[line.point_type] = totals.get(line.point_type, 0) + line.amount
    return totals
