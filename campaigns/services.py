"""A campaign's drafts and lifecycle: draft -> submitted -> approved -> scheduled -> active <->
paused -> ended, every step in one table (``campaigns.models.LIFECYCLE``).

A draft's content is written only while it is a draft (``campaign_draft_create``/``_update``).
Each step checks who may take it and from which status, and is saved with its author and a
reason in the campaign's history. An approver may not approve their own campaign. A campaign
gives points only while active (and, for facts that happened in its window and arrive late,
after it ended); see ``campaigns.selectors.GIVING``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import LIFECYCLE, Campaign, lifecycle_move
from config.common.states import TransitionRefused

S = Campaign.Status

if TYPE_CHECKING:
    from campaigns.journeys.models import Journey

    #: what has the campaign lifecycle: campaigns and journeys
    Lifecycled = Campaign | Journey
L = TypeVar("L", "Campaign", "Journey")

#: The steps people take (the admin's buttons), each with the statuses it starts from and its
#: label; the clock's own steps (start, finish) are taken by ``campaigns_due``. Read from the
#: one table of the lifecycle, ``campaigns.models.LIFECYCLE``.
ACTIONS: dict[str, tuple[tuple[str, ...], Any]] = {
    action: (step.sources, step.label) for action, step in LIFECYCLE.items() if step.by != "clock"
}


# --- drafts: the content of a campaign, written only while it is a draft ------------------------

#: What a draft's author sets; the record (status, author, approval, what was given) belongs to
#: the lifecycle and the pipeline.
RECORD_FIELDS = {
    "id",
    "status",
    "created_by",
    "approved_by",
    "approved_at",
    "created_at",
    "spent_points",
    "spent_cny",
}
CONTENT_FIELDS = frozenset(
    field.name
    for field in Campaign._meta.get_fields()
    if isinstance(field, models.Field) and field.editable and field.name not in RECORD_FIELDS
)


def campaign_draft_create(*, values: Mapping[str, Any], actor: Any) -> Campaign:
    """A new campaign, as a draft written by ``actor``; refused with the fields' reasons if its
    settings cannot work (``Campaign.clean``)."""
    campaign = Campaign(status=S.DRAFT, created_by=actor if getattr(actor, "pk", None) else None)
    return _draft_save(campaign, values, actor)


def campaign_draft_update(campaign: Campaign, *, values: Mapping[str, Any], actor: Any) -> Campaign:
    """Change a draft's content. Only a draft: the row is locked and read again, so an edit that
    meets a submission either goes in before it (the approver sees the edit) or is refused."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().filter(pk=campaign.pk, status=S.DRAFT).first()
        if locked is None:
            raise ValidationError(
                _("The campaign is no longer a draft: it was submitted while you were editing it."),
                code="not_draft",
            )
        return _draft_save(locked, values, actor)


def _draft_save(campaign: Campaign, values: Mapping[str, Any], actor: Any) -> Campaign:
    if unknown := set(values) - CONTENT_FIELDS:
        raise TypeError(f"not a draft's content: {sorted(unknown)}")
    related: dict[str, Any] = {}
    for name, value in values.items():
        if Campaign._meta.get_field(name).many_to_many:
            related[name] = value
        else:
            setattr(campaign, name, value)
    campaign.full_clean()
    if getattr(actor, "pk", None):
        campaign._history_user = actor
    with transaction.atomic():
        campaign.save()
        for name, value in related.items():
            getattr(campaign, name).set(value)
    return campaign


# --- the lifecycle ---------------------------------------------------------------------------------


def allowed_actions(campaign: Lifecycled, user: Any) -> list[str]:
    """The actions ``user`` may take on a campaign or journey now (the admin shows these as buttons)."""
    return [action for action in ACTIONS if _refusal(campaign, action, user) is None]


def _refusal(campaign: Lifecycled, action: str, user: Any) -> str | None:
    meta = campaign._meta
    names = {"thing": meta.verbose_name, "things": meta.verbose_name_plural}
    starts_from, _label = ACTIONS[action]
    if campaign.status not in starts_from:
        return _("“%(action)s” is not possible while the %(thing)s is %(status)s.") % {
            **names,
            "status": campaign.get_status_display(),
            "action": ACTIONS[action][1],
        }
    if LIFECYCLE[action].by == "approver":
        if not user.has_perm(f"{meta.app_label}.approve_{meta.model_name}"):
            return _("Only approvers may approve or reject %(things)s.") % names
        if campaign.created_by_id == user.pk:
            return _("An approver may not approve their own %(thing)s.") % names
    elif not user.has_perm(f"{meta.app_label}.change_{meta.model_name}"):
        return _("You may not change %(things)s.") % names
    return None


def lifecycle_transition(
    campaign: L, action: str, *, actor: Any, note: str = "", at: datetime.datetime | None = None
) -> L:
    """Take one lifecycle step of a campaign or journey; refused with the reason if the status or
    the person does not allow it."""
    if action not in ACTIONS:
        raise ValidationError(_("Unknown action %(action)s.") % {"action": action})
    at = at or timezone.now()
    model = type(campaign)
    with transaction.atomic():
        campaign = model.objects.select_for_update().get(pk=campaign.pk)
        if refusal := _refusal(campaign, action, actor):
            raise PermissionDenied(refusal)
        if action == "submit":
            campaign.full_clean()
        if action in ("reject", "withdraw") or action == "submit":
            campaign.approved_by, campaign.approved_at = None, None
        lifecycle_move(campaign, action, at)
        if action == "approve":
            campaign.approved_by, campaign.approved_at = actor, at
        if action == "end" and campaign.ends_at > at:
            campaign.ends_at = max(at, campaign.starts_at + datetime.timedelta(seconds=1))
        if action == "schedule" and campaign.ends_at <= at:
            raise ValidationError(
                {"ends_at": _("The end is already past: send it back to draft and change it.")}
            )
        campaign._history_user = actor
        label = str(ACTIONS[action][1])
        campaign._change_reason = f"{label}: {note}" if note else label
        campaign.save()
    return campaign


def campaigns_due(now: datetime.datetime | None = None) -> int:
    """Job: start scheduled campaigns whose start came, end those whose end came. Safe to rerun."""
    return lifecycle_due(Campaign, now)


def lifecycle_due(model: type[Lifecycled], now: datetime.datetime | None = None) -> int:
    """Start the scheduled rows of ``model`` (campaigns, journeys) whose start came, end those
    whose end came; returns how many moved. Safe to rerun."""
    now = now or timezone.now()
    start, finish = LIFECYCLE["start"], LIFECYCLE["finish"]
    due = model.objects.filter(
        Q(status__in=start.sources, starts_at__lte=now) | Q(status__in=finish.sources, ends_at__lte=now)
    )
    moved = 0
    for pk in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            row = model.objects.select_for_update().get(pk=pk)
            action = "finish" if row.ends_at <= now else "start"
            try:
                lifecycle_move(row, action, now)
            except TransitionRefused:  # moved by someone else since the list was read
                continue
            row._change_reason = str(LIFECYCLE[action].label)
            row.save()
            moved += 1
    return moved
