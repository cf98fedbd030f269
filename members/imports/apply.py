"""What a chunk's staged rows become: members enrolled, purchases and refunds recorded through
the same services as the API (``members_enrol``, ``purchases_record``, ``refunds_record``,
``events_record``), and the new facts handed to the earning pipeline (``PROCESSORS``, which
campaigns registers: it lives in a higher app). The job around it is ``runner.py``.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_date, parse_datetime

from config.common.errors import BusinessRuleError
from members.imports.legacy import LEGACY
from members.imports.matching import (
    IDENTITY_OF,
    Owners,
    identity_keys,
    matched_note,
    members_named,
    recorded_sales,
    sale_for_return,
    unmatched_reason,
)
from members.imports.models import ImportRow, ImportRun
from members.imports.profiles import Profile
from members.imports.reasons import MESSAGES, Reason, field_reasons, reason
from members.imports.targets import TARGETS, Target
from members.models import Gender, Identity, Member
from members.purchases.models import EventType, MemberEvent, Purchase, Refund
from members.purchases.services import (
    EventFact,
    PurchaseFact,
    RefundFact,
    events_record,
    purchases_record,
    refunds_record,
)
from members.services import Enrolment, IdentityKey, members_enrol

State = ImportRow.State


@dataclass
class NewFacts:
    """What one chunk recorded, for the earning pipeline to process in the same transaction."""

    purchases: list[Purchase] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    events: list[MemberEvent] = field(default_factory=list)


#: Called with a chunk's new facts inside its transaction; returns points per point type code.
PROCESSORS: list[Callable[[NewFacts], Counter]] = []


@dataclass
class Totals:
    purchases: int = 0
    refunds: int = 0
    members: int = 0
    listed: int = 0  # members added to a list (``targets``)
    points: Counter = field(default_factory=Counter)

    def __iadd__(self, other: Totals) -> Totals:
        self.purchases += other.purchases
        self.refunds += other.refunds
        self.members += other.members
        self.listed += other.listed
        self.points.update(other.points)
        return self


def reject(row: ImportRow, exc: ValidationError | BusinessRuleError) -> None:
    """Rejected by a service under the job's locks: our reasons as codes (a business rule's
    code is one of ours), a service's own words as they were given (they have no code here)."""
    row.state = State.REJECTED
    if isinstance(exc, BusinessRuleError):
        params = {name: value for name, value in exc.details.items() if name != "field"}
        known = exc.code in MESSAGES
        problem = reason(exc.code, **params) if known else {"code": "text", "params": {"text": exc.message}}
        errors = {str(exc.details.get("field", "")): [problem]}
    else:
        errors = field_reasons(exc)
    row.errors = {_FACT_FIELDS.get(name, name): reasons for name, reasons in errors.items()}
    row.member_id = row.purchase_id = row.refund_id = None


#: The fact services' field names -> the profile's, so a reason names the file's column.
_FACT_FIELDS = {
    "amount": "paid",
    "paid_amount": "paid",
    "gross_amount": "gross",
    "refund_number": "order_number",
}


def reject_with(row: ImportRow, field: str, problem: Reason) -> None:
    row.state = State.REJECTED
    row.errors = {field: [problem]}
    row.member_id = row.purchase_id = row.refund_id = None


# --- applying rows -------------------------------------------------------------------------

AMOUNTS = ("gross", "paid", "shipping", "refunded")
TIMES = ("occurred_at", "ordered_at")


def typed(values: dict[str, Any]) -> dict[str, Any]:
    """A staged row's values as the parser produced them (JSON has no Decimal or datetime)."""
    out = dict(values)
    for name in AMOUNTS:
        if out.get(name) is not None:
            out[name] = Decimal(str(out[name]))
    for name in TIMES:
        if out.get(name):
            out[name] = parse_datetime(out[name])
    if out.get("birthday"):
        out["birthday"] = parse_date(out["birthday"])
    return out


@dataclass(frozen=True)
class Job:
    spec: Profile
    groups: dict[str, list[str]]  # identity -> every identity of the new person it belongs to


def apply_rows(run: ImportRun, job: Job, rows: list[ImportRow]) -> Totals:
    spec = job.spec
    if spec.kind == "members":
        return _apply_members(run, rows)
    if spec.kind == "segment":
        return _apply_listed(run, TARGETS[spec.kind], rows)
    if spec.kind in LEGACY:
        return _apply_legacy(run, spec, rows)
    totals = Totals()
    facts = NewFacts()
    sales = [row for row in rows if row.kind != "return"]
    if sales:
        _apply_sales(run, spec, sales, job.groups, facts, totals)
    returns = [row for row in rows if row.kind == "return"]
    if returns:
        _apply_returns(spec, returns, facts, totals)
    if spec.earns:  # history from an old system is recorded, not earned on again
        for processor in PROCESSORS:
            totals.points.update(processor(facts))
    return totals


def _apply_sales(
    run: ImportRun, spec: Profile, rows: list[ImportRow], groups: dict, facts: NewFacts, totals: Totals
) -> None:
    values = {row.number: typed(row.values) for row in rows}
    owners = Owners(values.values(), spec.member_match)
    existing = {
        p.order_number: p
        for p in Purchase.objects.filter(
            source=spec.source, order_number__in=[v["order_number"] for v in values.values()]
        )
    }
    enrol: list[ImportRow] = []
    for row in rows:
        v = values[row.number]
        if done := existing.get(v["order_number"]):
            # Imported before: its member stands (whoever the row's ids name now), and
            # ``purchases_record`` says whether it is the same receipt.
            row.member_id = done.member_id
            continue
        member_id, problem = owners.match(v, spec.member_match)
        if problem:
            reject_with(row, "member", problem)
        elif member_id is None and spec.unknown_member == "reject":
            identities = [[name, str(v[name])] for name in spec.member_match if v.get(name)]
            reject_with(row, "member", reason("no_such_member", identities=identities))
        else:
            row.member_id = member_id
            if member_id is None:
                enrol.append(row)
    if enrol:
        totals.members += _enrol(run, spec, enrol, values, groups, facts)
    sales = [row for row in rows if row.state == State.PENDING and row.member_id]
    outcomes = purchases_record([_purchase_fact(spec, row, values[row.number]) for row in sales])
    by_pk: dict[int, Purchase] = {}
    for row, outcome in zip(sales, outcomes, strict=True):
        v = values[row.number]
        if isinstance(outcome, ValidationError):
            if v["order_number"] not in existing:
                # The row's member may be new in this chunk: the chunk is redone row by row,
                # and this row, member and purchase together, is rejected (all in or all out).
                raise outcome
            if "conflict" in {e.code for errors in outcome.error_dict.values() for e in errors}:
                reject_with(row, "order_number", reason("imported_other_amounts", number=v["order_number"]))
            else:
                reject(row, outcome)
            continue
        purchase, created = outcome
        by_pk[purchase.pk] = purchase
        if created:
            row.purchase_id = purchase.pk
            facts.purchases.append(purchase)
            totals.purchases += 1
        elif (v.get("refunded") or 0) > purchase.refunded_amount:
            row.purchase_id, row.member_id = purchase.pk, purchase.member_id  # the refund is recorded next
        else:
            row.state, row.errors = State.DUPLICATE, {"": [reason("already_imported")]}
            row.member_id = None
    # Orders carrying a refund (退款成功, 部分退款), new or seen before with less refunded.
    refunded = []
    for row in rows:
        v = values[row.number]
        if row.state == State.PENDING and v.get("refunded") and row.purchase_id:
            purchase = by_pk[row.purchase_id]
            if (target := v["refunded"]) > purchase.refunded_amount:
                number = f"{v['order_number']}/refunded/{target}"
                amount = target - purchase.refunded_amount
                refunded.append((row, RefundFact(purchase, spec.source, number, amount, v["occurred_at"])))
    refund_outcomes = refunds_record([fact for _row, fact in refunded])
    for (row, _fact), refund_outcome in zip(refunded, refund_outcomes, strict=True):
        if isinstance(refund_outcome, ValidationError | BusinessRuleError):
            # Its purchase is written already: the chunk is redone row by row, and this row,
            # purchase and refund together, is rejected (all in or all out).
            raise refund_outcome
        refund, created = refund_outcome
        if created:
            row.refund_id = refund.pk
            facts.refunds.append(refund)
            totals.refunds += 1


def _purchase_fact(spec: Profile, row: ImportRow, v: dict[str, Any]) -> PurchaseFact:
    assert row.member_id is not None  # only rows with a member are recorded
    return PurchaseFact(
        member_id=row.member_id,
        source=spec.source,
        order_number=v["order_number"],
        channel=spec.channel,
        store_id=v.get("store_id"),
        occurred_at=v["occurred_at"],
        gross_amount=v["gross"],
        paid_amount=v["paid"],
        shipping_amount=v.get("shipping") or Decimal(0),
    )


def _enrol(
    run: ImportRun,
    spec: Profile,
    rows: list[ImportRow],
    values: dict,
    groups: dict[str, list[str]],
    facts: NewFacts,
) -> int:
    """Enrol the unknown members of a chunk (``members_enrol``), each with every identity the
    file links to them (see the preview's groups), so rows in later chunks find them by any of
    those, and report their registration. Nothing of an existing member is changed by a
    purchase import."""
    first_row: dict[int, ImportRow] = {}  # enrolment -> the row that brought it
    person_of: dict[int, int] = {}  # row number -> enrolment
    index: dict[str, int] = {}
    enrolments: list[Enrolment] = []
    for row in rows:
        keys = identity_keys(values[row.number], spec.member_match)
        person = next((index[key] for key in keys if key in index), None)
        if person is None:
            linked = sorted({other for key in keys for other in groups.get(key, [key])})
            phones = [key.split(":", 1)[1] for key in linked if key.startswith("mobile:")]
            others = [key.split(":", 1) for key in linked if not phones or key != f"mobile:{phones[0]}"]
            person = len(enrolments)
            enrolments.append(
                Enrolment(
                    mobile=phones[0] if phones else None,
                    gender=Gender.UNKNOWN,
                    registration_channel=spec.channel,
                    registration_store_id=values[row.number].get("store_id"),
                    identities=[IdentityKey(IDENTITY_OF[name], value) for name, value in others],
                )
            )
            first_row[person] = row
            for key in linked:
                index[key] = person
        person_of[row.number] = person
    members: list[Member] = []
    for member in members_enrol(enrolments, actor=run.confirmed_by, source=f"import #{run.pk}"):
        if isinstance(member, ValidationError):
            raise member  # the chunk is redone row by row: the row is rejected with the reason
        members.append(member)
    for row in rows:
        row.member_id = members[person_of[row.number]].pk
    if spec.earns and EventType.objects.filter(code="registration", active=True).exists():
        # joining at the till is a registration: registration campaigns apply
        registrations = []
        for i, member in enumerate(members):
            at = values[first_row[i].number]["occurred_at"]
            registrations.append(EventFact(member.pk, "registration", member.member_number, at, spec.channel))
        for outcome in events_record(registrations):
            if isinstance(outcome, ValidationError):
                raise outcome
            event, created = outcome
            if created:
                facts.events.append(event)
    return len(members)


def _apply_returns(spec: Profile, rows: list[ImportRow], facts: NewFacts, totals: Totals) -> None:
    """Returns (退货) of sales imported before or earlier in this job: recorded together
    (``refunds_record``: each as ``refund_record`` would, a refused one rejects its row only)."""
    values = {row.number: typed(row.values) for row in rows}
    if spec.return_match_days:
        _match_sales(spec, rows, values)
    sales = {
        p.order_number: p
        for p in Purchase.objects.filter(
            source=spec.source, order_number__in={v["original_order_number"] for v in values.values()}
        )
    }
    recorded = []
    for row in rows:
        if row.state != State.PENDING:
            continue  # no sale fits (``_match_sales``)
        v = values[row.number]
        number = v["original_order_number"]
        if (sale := sales.get(number)) is None:
            reject_with(row, "original_order_number", reason("sale_missing", number=number))
            continue
        fact = RefundFact(sale, spec.source, v["order_number"], v["paid"], v["occurred_at"])
        recorded.append((row, fact))
    outcomes = refunds_record([fact for _row, fact in recorded])
    for (row, fact), outcome in zip(recorded, outcomes, strict=True):
        if isinstance(outcome, ValidationError | BusinessRuleError):
            reject(row, outcome)
            continue
        refund, created = outcome
        row.member_id, row.purchase_id = fact.purchase.member_id, fact.purchase.pk
        if created:
            row.refund_id = refund.pk
            facts.refunds.append(refund)
            totals.refunds += 1
        else:
            row.state, row.errors = State.DUPLICATE, {"": [reason("already_imported")]}


def _match_sales(spec: Profile, rows: list[ImportRow], values: dict[int, dict[str, Any]]) -> None:
    """The sales of returns without their receipt number, decided again as the preview did
    (``sale_for_return``) on what is recorded now (the file's sales are imported by now: sales
    go first), in row order, each return taking its amount from the sale it matched. Sets each
    one's ``original_order_number``, or rejects the row."""
    days = spec.return_match_days or 0
    unnamed = [row for row in rows if values[row.number].get("match_sale")]
    if not unnamed:
        return
    owners = Owners((values[row.number] for row in unnamed), spec.member_match)
    members = {row.number: owners.match(values[row.number], spec.member_match) for row in unnamed}
    ats = [values[row.number]["occurred_at"] for row in unnamed]
    found = recorded_sales(
        spec.source,
        {member_id for member_id, _problem in members.values() if member_id},
        min(ats) - datetime.timedelta(days=days),
        max(ats),
    )
    taken: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        v = values[row.number]
        if not v.get("match_sale"):
            taken[v["original_order_number"]] += v["paid"]
            continue
        member_id, problem = members[row.number]
        if problem:
            reject_with(row, "member", problem)
            continue
        sale = sale_for_return(
            found.get(member_id, []) if member_id else [],
            store_id=v.get("store_id"),
            at=v["occurred_at"],
            amount=v["paid"],
            days=days,
            taken=taken,
        )
        if sale is None:
            reject_with(row, "", unmatched_reason(v["paid"], days))
            continue
        taken[sale.number] += v["paid"]
        if sale.number != row.values.get("original_order_number"):  # not what the preview said
            row.values = {**row.values, "original_order_number": sale.number}
            row.errors = {**row.errors, "": [matched_note(sale)]}
            ImportRow.objects.filter(pk=row.pk).update(values=row.values, errors=row.errors)
        v["original_order_number"] = sale.number


def _apply_members(run: ImportRun, rows: list[ImportRow]) -> Totals:
    """Member lists: the rows through ``members_enrol``, the one set of enrolment rules; a row
    it refuses is rejected with the reasons, the others go in. A row with a referral code is
    linked to its referrer in the chunk's transaction; a code refused is checked before the
    enrolment (the row is rejected with the reason, nobody enrolled), and a refusal after it
    (a referrer closed meanwhile) fails the chunk, which the runner redoes row by row."""
    # imported here: the rest of this module is being changed beside this work (kept apart)
    from members.referrals.errors import ReferralRefused
    from members.referrals.services import referral_check, referral_link

    totals = Totals()
    enrolments, enrolled = [], []
    for row in rows:
        v = typed(row.values)
        keys = []
        if v.get("card"):
            keys.append(IdentityKey(Identity.Kind.CARD, v["card"]))
        if v.get("unionid"):
            keys.append(IdentityKey(Identity.Kind.WECHAT_UNIONID, v["unionid"]))
        if v.get("referral_code"):
            phone = [IdentityKey(Identity.Kind.PHONE, v["mobile"])] if v.get("mobile") else []
            try:
                referral_check(v["referral_code"], keys=[*phone, *keys])
            except ReferralRefused as exc:
                reject(row, exc)
                continue
        enrolled.append(row)
        enrolments.append(
            Enrolment(
                name=v.get("name", ""),
                mobile=v.get("mobile"),
                email=v.get("email", ""),
                gender=v.get("gender") or Gender.UNKNOWN,
                birthday=v.get("birthday"),
                province=v.get("province", ""),
                city=v.get("city", ""),
                registration_channel=v.get("registration_channel") or "import",
                registration_store_id=v.get("registration_store_id"),
                identities=keys,
            )
        )
    source = f"import #{run.pk}"
    members = members_enrol(enrolments, actor=run.confirmed_by, source=source)
    for row, member in zip(enrolled, members, strict=True):
        if isinstance(member, ValidationError):
            reject(row, member)
            continue
        if code := row.values.get("referral_code"):
            referral_link(member, code, actor=run.confirmed_by, source=source)
        row.member_id = member.pk
        totals.members += 1
    return totals


def _apply_legacy(run: ImportRun, spec: Profile, rows: list[ImportRow]) -> Totals:
    """An old CRM's records: each row's member found again under the job's transaction (closed
    or merged since the preview: rejected), then written by the kind's own ``apply``, which says
    what it posted (points by type code)."""
    named = members_named([row.values for row in rows], spec.member_match)
    for row, (member_id, problem) in zip(rows, named, strict=True):
        if problem:
            reject_with(row, "member", problem)
        else:
            row.member_id = member_id
    live = [row for row in rows if row.state == State.PENDING]
    posted = LEGACY[spec.kind].apply(run, live) if live else Counter()
    return Totals(points=posted)


def _apply_listed(run: ImportRun, target: Target, rows: list[ImportRow]) -> Totals:
    """Lists of existing members: the chunk's members through the list's own service (its app
    registered it, ``targets.TARGETS``); a member it did not add (on the list already, e.g. by
    another upload since the preview) makes the row a duplicate."""
    assert run.target_id is not None  # the preview refuses a list without one
    wanted = [row.member_id for row in rows if row.member_id is not None]
    added = target.add(run.target_id, wanted, run.confirmed_by)
    for row in rows:
        if row.member_id not in added:
            row.state, row.errors = State.DUPLICATE, {"": [reason("already_listed")]}
    return Totals(listed=len(added))
