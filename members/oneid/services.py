"""Merging one member into another (OneID): request, approve or reject, and the merge itself.

A merge is one transaction. Both members are locked first, in primary-key order, as every
earning locks its member, so a purchase earning on either member waits for the merge or the
merge for it. Then each step moves its rows from the absorbed member to the survivor:
this module moves what the member domain holds (identities, phones, consents, tags, purchases,
events, partner links); the apps above register their own steps in ``MERGE_STEPS`` when Django
starts (points through the ledger, tiers, coupons, campaigns' records), as the earning pipeline
registers itself with the import framework. The absorbed member stays as a closed record
pointing at the survivor (``Member.merged_into``); the merge record lists what moved.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.common.errors import BusinessRuleError
from config.common.validation import FieldErrors
from members.models import ConsentChannel, ConsentRecord, Identity, Member
from members.oneid.models import DuplicateCandidate, MemberMerge
from members.partners.models import PartnerMember
from members.purchases.models import MemberEvent, Purchase
from members.selectors import member_numbered
from members.services import member_facts


class MergeRefused(BusinessRuleError):
    code = "merge_refused"


@dataclass
class Merge:
    """What a step is given: the two members (locked), when, who, and where to say what moved."""

    record: MemberMerge
    survivor: Member
    absorbed: Member
    at: datetime.datetime
    actor: Any
    moved: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Prefix of the idempotency keys of what the merge writes (ledger entries)."""
        return f"merge:{self.record.pk}"

    def note(self, what: str, count: int, detail: str = "") -> None:
        if count:
            self.moved.append({"what": what, "count": count, "detail": detail})


#: (code, label, step): run in order inside the merge's transaction. Apps above members append
#: theirs in ``AppConfig.ready`` (``register_step``). A step raising refuses the whole merge.
MERGE_STEPS: list[tuple[str, Promise | str, Callable[[Merge], None]]] = []
#: Why absorbing a member needs a second person's approval: each callable returns reasons
#: (words, in the requester's language) or none. Apps above register theirs.
APPROVAL_CHECKS: list[Callable[[Member, Member], list[str]]] = []
#: What a ``Merge.note`` code reads as (codes of every step, ours and the apps').
MOVED_LABELS: dict[str, Promise | str] = {
    "identities": gettext_lazy("Identities"),
    "consents": gettext_lazy("Consent records"),
    "tags": gettext_lazy("Tags"),
    "purchases": gettext_lazy("Purchases"),
    "events": gettext_lazy("Behaviour events"),
    "partner_links": gettext_lazy("Partner links"),
}


def register_step(code: str, label: Promise | str, step: Callable[[Merge], None]) -> None:
    if code not in {c for c, _label, _step in MERGE_STEPS}:
        MERGE_STEPS.append((code, label, step))
        MOVED_LABELS.setdefault(code, label)


def approval_reasons(survivor: Member, absorbed: Member) -> list[str]:
    reasons = []
    for member in (survivor, absorbed):
        if member.status == Member.Status.FROZEN:
            reasons.append(_("Member %(number)s is frozen.") % {"number": member.member_number})
    for check in APPROVAL_CHECKS:
        reasons += check(survivor, absorbed)
    return reasons


def merge_request(
    *,
    survivor: Member,
    absorbed: Sequence[Member],
    reason: str,
    actor: Any = None,
    idempotency_key: str = "",
    at: datetime.datetime | None = None,
) -> list[MemberMerge]:
    """Ask to merge each of ``absorbed`` into ``survivor``; merged at once unless a member's
    points, tier or state need a second person (``approval_reasons``), then waiting for them.
    One transaction for all of them: one refused, none is merged.

    ``idempotency_key`` (a caller's retry key) makes a retry return the first requests.
    """
    at = at or timezone.now()
    errors = FieldErrors()
    if not reason.strip():
        errors.add("reason", _("Say why these members are one person."))
    if not absorbed:
        errors.add("absorbed", _("Choose at least one member to merge into the survivor."))
    for member in absorbed:
        if member.pk == survivor.pk:
            errors.add("absorbed", _("A member cannot be merged into themself."))
    errors.raise_if_any()
    key = idempotency_key or f"merge:{survivor.pk}:{','.join(str(m.pk) for m in absorbed)}:{at.timestamp()}"
    done = list(MemberMerge.objects.filter(idempotency_key__startswith=f"{key}#").order_by("pk"))
    if done:
        return done
    with transaction.atomic():
        return _request_each(survivor, absorbed, reason=reason, actor=actor, key=key, at=at)


def _request_each(
    survivor: Member, absorbed: Sequence[Member], *, reason: str, actor: Any, key: str, at: datetime.datetime
) -> list[MemberMerge]:
    records = []
    survivor = Member.objects.select_related("merged_into").get(pk=survivor.pk)
    for number, member in enumerate(absorbed):
        member = Member.objects.select_related("merged_into").get(pk=member.pk)
        _check_mergeable(survivor, member)
        try:
            with transaction.atomic():
                record = MemberMerge.objects.create(
                    survivor=survivor,
                    absorbed=member,
                    reason=reason.strip(),
                    approval_reasons=approval_reasons(survivor, member),
                    requested_by=actor if getattr(actor, "pk", None) else None,
                    requested_at=at,
                    idempotency_key=f"{key}#{number}",
                )
        except IntegrityError:
            raise MergeRefused(
                _("Member %(number)s already has a merge waiting for approval.")
                % {"number": member.member_number},
                field="absorbed",
            ) from None
        if not record.approval_reasons:
            record = merge_execute(record, actor=actor, at=at)
        records.append(record)
    return records


def _check_mergeable(survivor: Member, absorbed: Member) -> None:
    for member, role in ((survivor, "survivor"), (absorbed, "absorbed")):
        if member.merged_into is not None:
            raise MergeRefused(
                _("Member %(number)s was already merged into %(into)s.")
                % {"number": member.member_number, "into": member.merged_into.member_number},
                field=role,
            )
        if member.status == Member.Status.CLOSED:
            raise MergeRefused(
                _("Member %(number)s is closed.") % {"number": member.member_number}, field=role
            )


def merge_approve(*, merge: MemberMerge, actor: Any, note: str = "") -> MemberMerge:
    """A second person approves a waiting merge: it is done now."""
    if merge.status != MemberMerge.Status.PENDING:
        raise MergeRefused(_("This merge is not waiting for approval."))
    if merge.requested_by_id and merge.requested_by_id == getattr(actor, "pk", None):
        raise MergeRefused(_("A merge must be approved by someone other than who asked for it."))
    merge.decision_note = note
    return merge_execute(merge, actor=actor, approving=True)


def merge_reject(*, merge: MemberMerge, actor: Any, note: str = "") -> MemberMerge:
    with transaction.atomic():
        merge = MemberMerge.objects.select_for_update().get(pk=merge.pk)
        if merge.status != MemberMerge.Status.PENDING:
            raise MergeRefused(_("This merge is not waiting for approval."))
        merge.status = MemberMerge.Status.REJECTED
        merge.decided_by = actor if getattr(actor, "pk", None) else None
        merge.decided_at = timezone.now()
        merge.decision_note = note.strip()
        merge.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return merge


def merge_execute(
    record: MemberMerge, *, actor: Any = None, at: datetime.datetime | None = None, approving: bool = False
) -> MemberMerge:
    """Move everything of the absorbed member to the survivor, in one transaction (see module doc)."""
    at = at or timezone.now()
    note = record.decision_note
    with transaction.atomic():
        record = MemberMerge.objects.select_for_update().get(pk=record.pk)
        if record.status != MemberMerge.Status.PENDING:
            return record  # done by a concurrent approval: its result
        ids = sorted([record.survivor_id, record.absorbed_id])
        locked = {m.pk: m for m in Member.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        survivor, absorbed = locked[record.survivor_id], locked[record.absorbed_id]
        _check_mergeable(survivor, absorbed)
        merge = Merge(record=record, survivor=survivor, absorbed=absorbed, at=at, actor=actor)
        for _code, _label, step in [*MEMBER_STEPS, *MERGE_STEPS]:
            step(merge)
        _close_absorbed(merge)
        record.status = MemberMerge.Status.DONE
        record.merged_at = at
        record.moved = merge.moved
        if approving:
            record.decided_by = actor if getattr(actor, "pk", None) else None
            record.decided_at = at
            record.decision_note = note
        record.save()
        DuplicateCandidate.objects.filter(
            Q(first=absorbed, second=survivor) | Q(first=survivor, second=absorbed)
        ).update(
            status=DuplicateCandidate.Status.MERGED,
            decided_by=record.decided_by or record.requested_by,
            decided_at=at,
        )
        member_facts("member.updated", [survivor.pk, absorbed.pk], at)
    return record


def _history(member: Member, merge: Merge, reason: str) -> None:
    """Who made the change and why, for the history row simple-history writes on save
    (``merge:<record id>``: a code, as imports and partners record theirs)."""
    if getattr(merge.actor, "pk", None):
        member._history_user = merge.actor
    member._change_reason = reason


def _move_identities(merge: Merge) -> None:
    """Every id of the absorbed member becomes the survivor's; its primary phone becomes the
    survivor's primary one if the survivor has none, else a secondary phone."""
    absorbed, survivor = merge.absorbed, merge.survivor
    identities = list(Identity.objects.filter(member=absorbed))
    if absorbed.mobile:
        # the mobile is unique across members: the absorbed record lets go of it first
        absorbed.mobile = None
        _history(absorbed, merge, f"merge:{merge.record.pk}")
        absorbed.save(update_fields=["mobile", "updated_at"])
    take_primary = not survivor.mobile
    for identity in identities:
        identity.member = survivor
        if identity.is_primary_phone:
            identity.is_primary_phone = take_primary
            if take_primary:
                survivor.mobile = identity.value
        _history(identity, merge, f"merge:{merge.record.pk}")  # type: ignore[arg-type]
        identity.save(update_fields=["member", "is_primary_phone"])
    if take_primary and survivor.mobile:
        _history(survivor, merge, f"merge:{merge.record.pk}")
        survivor.save(update_fields=["mobile", "updated_at"])
    merge.note("identities", len(identities))


def _move_consents(merge: Merge) -> None:
    """The trail moves whole; each channel's consent is the most recent choice of either member."""
    absorbed, survivor = merge.absorbed, merge.survivor
    moved = ConsentRecord.objects.filter(member=absorbed).update(member=survivor)
    changed = []
    for channel in ConsentChannel.values:
        latest = (
            ConsentRecord.objects.filter(member=survivor, channel=channel)
            .order_by("-recorded_at", "-id")
            .values_list("granted", flat=True)
            .first()
        )
        field_name = f"{channel}_consent"
        if latest is None:
            # no trail on either side (consents set before records were kept): keep the survivor's
            continue
        if getattr(survivor, field_name) != latest:
            setattr(survivor, field_name, latest)
            changed.append(field_name)
    for channel in ConsentChannel.values:
        setattr(absorbed, f"{channel}_consent", False)
    if changed:
        _history(survivor, merge, f"merge:{merge.record.pk}")
        survivor.save(update_fields=[*changed, "updated_at"])
    merge.note("consents", moved)


def _move_tags(merge: Merge) -> None:
    tags = set(merge.absorbed.tags.all()) - set(merge.survivor.tags.all())
    if tags:
        _history(merge.survivor, merge, f"merge:{merge.record.pk}")
        merge.survivor.tags.add(*tags)
    merge.note("tags", len(tags))


def _move_facts(merge: Merge) -> None:
    merge.note("purchases", Purchase.objects.filter(member=merge.absorbed).update(member=merge.survivor))
    merge.note("events", MemberEvent.objects.filter(member=merge.absorbed).update(member=merge.survivor))


def _move_partner_links(merge: Merge) -> None:
    """Partners that served the absorbed member serve the survivor (the later visit is kept)."""
    links = list(PartnerMember.objects.filter(member=merge.absorbed))
    theirs = {link.partner_id: link for link in PartnerMember.objects.filter(member=merge.survivor)}
    for link in links:
        if (own := theirs.get(link.partner_id)) is None:
            PartnerMember.objects.filter(pk=link.pk).update(member=merge.survivor)
            continue
        if link.visit_until and (own.visit_until is None or link.visit_until > own.visit_until):
            PartnerMember.objects.filter(pk=own.pk).update(visit_until=link.visit_until)
        link.delete()
    merge.note("partner_links", len(links))


def _close_absorbed(merge: Merge) -> None:
    absorbed = merge.absorbed
    absorbed.status = Member.Status.CLOSED
    absorbed.merged_into = merge.survivor
    _history(absorbed, merge, f"merge:{merge.record.pk}")
    absorbed.save()
    absorbed.tags.clear()
    # whoever was merged into the absorbed member points at the survivor now: one hop, always
    Member.objects.filter(merged_into=absorbed).update(merged_into=merge.survivor)


MEMBER_STEPS: list[tuple[str, Promise | str, Callable[[Merge], None]]] = [
    ("identities", MOVED_LABELS["identities"], _move_identities),
    ("consents", MOVED_LABELS["consents"], _move_consents),
    ("tags", MOVED_LABELS["tags"], _move_tags),
    ("facts", MOVED_LABELS["purchases"], _move_facts),
    ("partner_links", MOVED_LABELS["partner_links"], _move_partner_links),
]


def candidate_dismiss(*, candidate: DuplicateCandidate, actor: Any) -> DuplicateCandidate:
    """Not the same person: the pair is not asked about again."""
    if candidate.status != DuplicateCandidate.Status.OPEN:
        raise MergeRefused(_("This pair was already decided."))
    candidate.status = DuplicateCandidate.Status.DISMISSED
    candidate.decided_by = actor if getattr(actor, "pk", None) else None
    candidate.decided_at = timezone.now()
    candidate.save(update_fields=["status", "decided_by", "decided_at"])
    return candidate


def merge_validate_members(
    survivor_number: str, absorbed_numbers: Sequence[str]
) -> tuple[Member, list[Member]]:
    """The members an operator named by number, or ValidationError naming the field."""
    errors = FieldErrors()
    survivor = member_numbered(survivor_number, errors, "survivor")
    found = [member_numbered(number, errors, "absorbed") for number in absorbed_numbers]
    absorbed = [member for member in found if member is not None]
    errors.raise_if_any()
    assert survivor is not None
    return survivor, absorbed
