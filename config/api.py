"""The partner API's URLs: /api/v1/ endpoints from each app, the schema and the docs page."""

from __future__ import annotations

import threading

from django.urls import Resolver404, include, path, re_path, resolve
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from members.api import MemberViewSet
from members.partners.api.catalogue import EventTypesView, MeView
from members.partners.api.errors import json_error


class JsonErrors(APIView):
    """Refusals in the error body as JSON, whatever the view renders when it succeeds (the
    schema as YAML, the docs page as HTML)."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code >= 400:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaView(JsonErrors, SpectacularAPIView):
    """One generation at a time per process: drf-spectacular's first one loads its extensions'
    classes, which is not thread-safe (two at once crashed one in a test)."""

    _generating = threading.Lock()

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        with self._generating:
            return super().get(request, *args, **kwargs)


@csrf_exempt
def no_such_url(request, rest: str = ""):
    """Any method on any URL under /api/ that names no endpoint: 404 in the error body, also with
    DEBUG on (Django's technical 404 page is HTML) and instead of CommonMiddleware's redirect to
    the URL with a slash (which would drop a POST's body)."""
    message = _("Not found.")
    if not request.path.endswith("/"):
        try:
            resolve(request.path + "/")
        except Resolver404:
            pass
        else:
            message = _("Not found. The API's URLs end with a slash: %(path)s/") % {"path": request.path}
    return json_error(404, "not_found", message)


class DocsView(JsonErrors, SpectacularSwaggerView):
    pass


router = SimpleRouter(trailing_slash=True)
router.register("members", MemberViewSet, basename="member")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("v1/me/", MeView.as_view(), name="api-me"),
    path("v1/event-types/", EventTypesView.as_view(), name="api-event-types"),
    # each app's own endpoints (members/api/ holds the framework they share)
    path("v1/", include("members.messaging.api")),
    path("v1/", include("points.api")),
    path("v1/", include("points.households.api")),
    path("v1/", include("points.cash.api")),
    path("v1/", include("tiers.api")),
    path("v1/", include("tiers.plans_api")),
    path("v1/", include("benefits.api")),
    path("v1/", include("campaigns.api")),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^(?P<rest>.*)$", no_such_url),  # last: whatever matched nothing above
]
