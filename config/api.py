"""The partner API's URLs: /api/v1/ endpoints from each app, the schema and the docs page."""

from __future__ import annotations

import threading

from django.urls import include, path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from members.api.members import MemberViewSet


class SchemaView(SpectacularAPIView):
    """One generation at a time per process: drf-spectacular's first one loads its extensions'
    classes, which is not thread-safe (two at once crashed one in a test)."""

    _generating = threading.Lock()

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        with self._generating:
            return super().get(request, *args, **kwargs)


router = SimpleRouter(trailing_slash=True)
router.register("members", MemberViewSet, basename="member")

urlpatterns = [
    path("v1/", include(router.urls)),
    # each app's own endpoints (members/api/ holds the framework they share)
    path("v1/", include("points.api")),
    path("v1/", include("tiers.api")),
    path("v1/", include("benefits.api")),
    path("v1/", include("campaigns.api")),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
