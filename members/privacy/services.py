"""PIPL rights: erasure (approved by a second person), the retention job, the access log.

Erasure removes a member's personal data everywhere it is stored and keeps the member as a
pseudonym (the member number), so purchases, the ledger and the reports still add up: the
member row is blanked and closed; identities are deleted (the ids can be used by someone else);
the change history of the member and its identities is deleted; staged import rows that hold
the member's data lose their values (and their run its stored file); stored API answers that
mention the member are deleted; messages keep their status and lose address and text; webhook
events lose their body; member codes and duplicate pairs go. Apps above members register the
personal data they hold in ``ERASURE_STEPS`` (a redemption's delivery address).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.common.errors import BusinessRuleError
from config.common.validation import FieldErrors
from members.imports.models import ImportRow, ImportRun
from members.messaging.models import Message, RecordedMessage
from members.models import Gender, Identity, Member
from members.oneid.models import DuplicateCandidate
from members.partners.models import IdempotentRequest, MemberCode
from members.privacy.models import AccessLog, ErasureRequest, PrivacySettings
from members.webhooks.models import WebhookEvent


class ErasureRefused(BusinessRuleError):
    code = "erasure_refused"


@dataclass
class Erasure:
    """What a step is given: the member (locked), the strings that identify them, the tally."""

    member: Member
    needles: list[str]
    at: datetime.datetime
    erased: list[dict[str, Any]] = field(default_factory=list)

    def note(self, what: str, count: int) -> None:
        if count:
            self.erased.append({"what": what, "count": count})


#: What an ``Erasure.note`` code reads as on the request's page.
ERASED_LABELS = {
    "identities": gettext_lazy("Identities (released for reuse)"),
    "history": gettext_lazy("Earlier versions in the change history"),
    "import_rows": gettext_lazy("Staged import rows"),
    "api_answers": gettext_lazy("Stored API answers"),
    "messages": gettext_lazy("Messages (address and text)"),
    "redemptions": gettext_lazy("Redemptions (delivery address and notes)"),
}

#: Steps of apps above members, run inside the erasure's transaction (appended in their ``ready``).
ERASURE_STEPS: list[Callable[[Erasure], None]] = []


def erasure_request(*, member: Member, reason: str, actor: Any) -> ErasureRequest:
    if not reason.strip():
        FieldErrors.single("reason", _("Say when and how the member asked."))
    if member.merged_into_id:
        raise ErasureRefused(
            _("Member %(number)s was merged into another: erase that member.")
            % {"number": member.member_number},
            field="member",
        )
    try:
        with transaction.atomic():
            return ErasureRequest.objects.create(
                member=member, reason=reason.strip(), requested_by=actor, requested_at=timezone.now()
            )
    except IntegrityError:
        raise ErasureRefused(
            _("An erasure of member %(number)s is already waiting for approval.")
            % {"number": member.member_number},
            field="member",
        ) from None


def erasure_reject(*, request: ErasureRequest, actor: Any) -> ErasureRequest:
    with transaction.atomic():
        request = ErasureRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != ErasureRequest.Status.PENDING:
            raise ErasureRefused(_("This erasure is not waiting for approval."))
        request.status, request.decided_by, request.decided_at = (
            ErasureRequest.Status.REJECTED,
            actor,
            timezone.now(),
        )
        request.save(update_fields=["status", "decided_by", "decided_at"])
    return request


def erasure_approve(
    *, request: ErasureRequest, actor: Any, at: datetime.datetime | None = None
) -> ErasureRequest:
    """A second person approves: the member's personal data is erased now, irreversibly."""
    at = at or timezone.now()
    with transaction.atomic():
        request = ErasureRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != ErasureRequest.Status.PENDING:
            raise ErasureRefused(_("This erasure is not waiting for approval."))
        if request.requested_by_id == getattr(actor, "pk", None):
            raise ErasureRefused(_("An erasure must be approved by someone other than who asked for it."))
        # the member as it is now: a merge waiting on this lock, or done before it, is seen
        member = Member.objects.select_for_update().get(pk=request.member_id)
        if member.merged_into_id:
            raise ErasureRefused(
                _("Member %(number)s was merged into another: erase that member.")
                % {"number": member.member_number}
            )
        erasure = Erasure(member=member, needles=_needles(member), at=at)
        for step in [*MEMBER_STEPS, *ERASURE_STEPS]:
            step(erasure)
        request.status, request.decided_by, request.decided_at = ErasureRequest.Status.DONE, actor, at
        request.erased = erasure.erased
        request.save(update_fields=["status", "decided_by", "decided_at", "erased"])
    return request


def _needles(member: Member) -> list[str]:
    """The strings that name the member: name, e-mail, phones (E.164 and national), every id."""
    found = {member.name, member.email}
    for kind, value in Identity.objects.filter(member=member).values_list("kind", "value"):
        found.add(value)
        if kind == Identity.Kind.PHONE and value.startswith("+86"):
            found.add(value[3:])
    if member.mobile:
        found |= {member.mobile.as_e164, str(member.mobile.national_number)}
    return sorted(needle for needle in found if needle and len(needle) >= 2)


def _containing(queryset: QuerySet[Any], field_name: str, needles: list[str]) -> QuerySet[Any]:
    """Rows whose field (text or JSON) contains any of the strings."""
    query = Q()
    for needle in needles:
        query |= Q(_text__contains=needle)
    return queryset.annotate(_text=Cast(field_name, TextField())).filter(query)


def _erase_member(erasure: Erasure) -> None:
    member = erasure.member
    Member.objects.filter(pk=member.pk).update(
        name="",
        mobile=None,
        email="",
        gender=Gender.UNKNOWN,
        birthday=None,
        province="",
        city="",
        sms_consent=False,
        email_consent=False,
        wechat_consent=False,
        status=Member.Status.CLOSED,
        updated_at=erasure.at,
    )
    member.tags.clear()
    erasure.note("identities", Identity.objects.filter(member=member).delete()[0])
    history = Member.history.model.objects.filter(id=member.pk)
    erasure.note(
        "history", history.count() + Identity.history.model.objects.filter(member_id=member.pk).count()
    )
    apps.get_model("members", "HistoricalMember_tags").objects.filter(member_id=member.pk).delete()
    Identity.history.model.objects.filter(member_id=member.pk).delete()
    history.delete()
    member.refresh_from_db()
    member._change_reason = f"erasure:{member.pk}"  # the one version left: blank, and why
    member.save(update_fields=["updated_at"])


def _erase_staged(erasure: Erasure) -> None:
    rows = ImportRow.objects.filter(member_id=erasure.member.pk) | _containing(
        ImportRow.objects.all(), "values", erasure.needles
    )
    ids = list(rows.values_list("pk", flat=True))
    ids += list(_containing(ImportRow.objects.all(), "errors", erasure.needles).values_list("pk", flat=True))
    runs = set(ImportRow.objects.filter(pk__in=ids).values_list("run_id", flat=True))
    erasure.note(
        "import_rows", ImportRow.objects.filter(pk__in=ids).update(values={}, errors={}, review=None)
    )
    for run in ImportRun.objects.filter(pk__in=runs):
        # the uploaded file holds the row as it came: the run keeps its counts, not the file
        if run.file:
            run.file.delete(save=False)
        run.enrol_groups = [
            group for group in run.enrol_groups if not any(n in str(group) for n in erasure.needles)
        ]
        run.save(update_fields=["file", "enrol_groups"])


def _erase_answers(erasure: Erasure) -> None:
    """Stored API answers (kept 48 hours at most) that mention the member: found by the database
    in the stored bytes, so an erasure does not read two days of a busy API's answers."""
    found = "position(%s::bytea in body) > 0" if connection.vendor == "postgresql" else "instr(body, %s) > 0"
    words = [erasure.member.member_number, *erasure.needles]
    mentions = Q()
    for word in words:
        mentions |= Q(RawSQL(found, [word.encode()], output_field=BooleanField()))
    erasure.note("api_answers", IdempotentRequest.objects.filter(mentions).delete()[0])


def _erase_messages(erasure: Erasure) -> None:
    member = erasure.member
    erasure.note(
        "messages",
        Message.objects.filter(member=member).update(recipient="", subject="", body="", last_error=""),
    )
    recorded = RecordedMessage.objects.filter(recipient__in=erasure.needles) | _containing(
        RecordedMessage.objects.all(), "body", [n for n in erasure.needles if not n.isdigit()]
    )
    RecordedMessage.objects.filter(pk__in=recorded.values("pk")).delete()
    WebhookEvent.objects.filter(member=member).update(body={})
    MemberCode.objects.filter(member=member).delete()
    DuplicateCandidate.objects.filter(Q(first=member) | Q(second=member)).delete()


MEMBER_STEPS: list[Callable[[Erasure], None]] = [
    _erase_member,
    _erase_staged,
    _erase_answers,
    _erase_messages,
]


# --- retention ---------------------------------------------------------------------------------


def personal_data_purge(now: datetime.datetime | None = None) -> dict[str, int]:
    """The retention job: finished imports older than the setting lose their file and rows'
    values; stored API answers older than the setting are deleted."""
    now = now or timezone.now()
    policy = PrivacySettings.current()
    old = ImportRun.objects.filter(
        created_at__lt=now - datetime.timedelta(days=policy.import_rows_days),
        status__in=[ImportRun.Status.DONE, ImportRun.Status.CANCELLED, ImportRun.Status.FAILED],
    )
    rows = ImportRow.objects.filter(run__in=old).exclude(values={}).update(values={}, review=None)
    files = 0
    for run in old.exclude(file=""):
        run.file.delete(save=False)
        run.enrol_groups = []
        run.save(update_fields=["file", "enrol_groups"])
        files += 1
    answers = IdempotentRequest.objects.filter(
        created_at__lt=now - datetime.timedelta(hours=policy.api_answers_hours)
    ).delete()[0]
    return {"import_rows": rows, "import_files": files, "api_answers": answers}


# --- the access log ----------------------------------------------------------------------------


def access_record(*, user: Any, what: str, member: Member | None = None, count: int = 1) -> None:
    """Someone saw or took personal data unmasked: who, whose, what, when."""
    AccessLog.objects.create(user=user, member=member, what=what, count=count, at=timezone.now())
