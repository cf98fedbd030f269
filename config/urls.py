from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = settings.ADMIN_SITE_HEADER
admin.site.site_title = settings.ADMIN_SITE_HEADER
admin.site.index_title = settings.ADMIN_SITE_HEADER

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("config.api")),
    path("", include("members.messaging.urls")),  # the unsubscribe page, gateways' callbacks
]


def handler404(request, exception):
    """JSON for API clients, the usual page for people."""
    from django.views.defaults import page_not_found

    from members.partners.api.errors import json_404

    if request.path.startswith("/api/"):
        return json_404(request, exception)
    return page_not_found(request, exception)


def handler400(request, exception):
    """Django refused the request before a view (a body over DATA_UPLOAD_MAX_MEMORY_SIZE read by
    a middleware ...): the API's error body under /api/."""
    from django.views.defaults import bad_request

    from members.partners.api.errors import json_400

    if request.path.startswith("/api/"):
        return json_400(request, exception)
    return bad_request(request, exception)


def handler500(request):
    from django.views.defaults import server_error

    from members.partners.api.errors import json_500

    if request.path.startswith("/api/"):
        return json_500(request)
    return server_error(request)
