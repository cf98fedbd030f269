"""Partner keys (``Authorization: Api-Key <key>``), grants and the per-key rate limit."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_api_key.permissions import KeyParser

from members.partners.models import Partner, PartnerKey


class PartnerKeyAuthentication(BaseAuthentication):
    """The request acts as the key's partner through the partner's service user."""

    keyword = "Api-Key"

    def authenticate(self, request):
        text = KeyParser().get(request)
        if text is None:
            return None
        key = (
            PartnerKey.objects.get_usable_keys()
            .select_related("partner__user")
            .filter(prefix=text.partition(".")[0])
            .first()
        )
        if key is None or key.has_expired or not key.is_valid(text) or not key.partner.is_active:
            raise exceptions.AuthenticationFailed(_("The API key is not valid, or it was revoked."))
        return key.partner.user, key

    def authenticate_header(self, request) -> str:
        return self.keyword


def partner_of(request) -> Partner:
    return request.auth.partner


class HasGrant(BasePermission):
    """The endpoint's ``grant`` (per method in ``grants``) must be in the partner's grants."""

    # lazy: a class attribute translated at import time was always in the default language
    message = gettext_lazy("This key's partner is not granted this operation.")

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, PartnerKey):
            return False
        grants = getattr(view, "grants", None) or {}
        grant = grants.get(request.method, getattr(view, "grant", None))
        return grant is not None and request.auth.partner.has_grant(grant)


class PartnerKeyThrottle(SimpleRateThrottle):
    """``Partner.rate_per_minute`` requests per minute per key (counted in the default cache)."""

    scope = "partner"

    def allow_request(self, request, view) -> bool:
        if not isinstance(request.auth, PartnerKey):
            return True
        self.rate = f"{request.auth.partner.rate_per_minute}/min"
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self) -> str | None:
        return None  # set per request above

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
