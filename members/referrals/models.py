"""Referrals (以老带新): each member's referral code, the devices (and IP addresses) members
enrolled on, and who referred whom. Writes go through ``members.referrals.services``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.models import Channel, Member
from members.partners.models import Partner
from members.purchases.models import Purchase

#: Letters and digits a customer reads out or types without confusing them: no 0/O, 1/I.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8  # 32**8 ≈ 10**12: guessing someone's code through the throttled API is hopeless


class ReferralCode(models.Model):
    """A member's own referral code, made the first time it is asked for (not for every member
    in advance: most never share one)."""

    member = models.OneToOneField(
        Member,
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="referral_code",
    )
    code = models.CharField(_("referral code"), max_length=16, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral code")
        verbose_name_plural = _("referral codes")

    def __str__(self) -> str:
        return self.code


class MemberDevice(models.Model):
    """A device (the brand app's device id) a member enrolled on: a member cannot refer someone
    who enrols on one of their own devices."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="devices"
    )
    device_id = models.CharField(_("device id"), max_length=128)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member device")
        verbose_name_plural = _("member devices")
        constraints = [
            models.UniqueConstraint(fields=["member", "device_id"], name="member_device_once"),
            models.CheckConstraint(condition=~Q(device_id=""), name="member_device_not_empty"),
        ]
        indexes = [models.Index(fields=["device_id"], name="member_device_id")]

    def __str__(self) -> str:
        return self.device_id


class MemberIp(models.Model):
    """An IP address a member enrolled from, as the partner's app saw it (sent only by partners
    that know it). The risk rules count enrolments and what follows per address; unlike a device,
    a shared address (a shop's Wi-Fi, a carrier's NAT) says nothing about referrals."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="ips")
    ip = models.GenericIPAddressField(_("IP address"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member IP address")
        verbose_name_plural = _("member IP addresses")
        constraints = [models.UniqueConstraint(fields=["member", "ip"], name="member_ip_once")]
        indexes = [models.Index(fields=["ip"], name="member_ip")]

    def __str__(self) -> str:
        return self.ip


class Referral(models.Model):
    """One member (the referee) enrolled with another's code (the referrer). A member has one
    referrer at most. ``settled_at``: when the referee's first purchase was handled for the
    referral campaigns (``first_purchase``: that purchase; empty when the purchase handled was
    not the first), so later purchases never look at the referrer again."""

    referrer = models.ForeignKey(
        Member, verbose_name=_("referrer"), on_delete=models.PROTECT, related_name="referees"
    )
    referee = models.OneToOneField(
        Member, verbose_name=_("referee"), on_delete=models.CASCADE, related_name="referral"
    )
    code = models.CharField(_("referral code used"), max_length=16)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, blank=True)
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    device_id = models.CharField(_("device id"), max_length=128, blank=True)
    source = models.CharField(_("source"), max_length=32, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    first_purchase = models.ForeignKey(
        Purchase,
        verbose_name=_("first purchase"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    settled_at = models.DateTimeField(_("first purchase handled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=models.F("referee")), name="referral_not_self"),
        ]
        indexes = [models.Index(fields=["referrer", "-created_at"], name="referral_referrer_recent")]

    def __str__(self) -> str:
        return f"{self.referrer} → {self.referee}"
