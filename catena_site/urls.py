"""Root URLs: the Management API, its schema, health, the Django admin and the web screens."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from catena_site.admin_login import admin_login
from catena_site.api.errors import json_not_found
from catena_site.health import healthz
from content.icareus_views import channels_admin
from monitoring.prometheus import metrics

API = "tv-management/api/v1/"

api_patterns = [
    path("", include("portals.api.urls")),
    path("", include("content.api.urls")),
    path("", include("subscribers.api.urls")),
    path("", include("monitoring.api.urls")),
]

urlpatterns = [
    # First: the streaming server's auth backend and events are the hot path (every viewer, every channel switch).
    path("streaming/", include("monitoring.streaming.urls")),
    re_path(rf"^{API}schema/?$", SpectacularAPIView.as_view(), name="api-schema"),
    path(API, include((api_patterns, "api"))),
    re_path(rf"^{API}", json_not_found),  # unknown API paths answer JSON, not an HTML page
    path("api-docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),  # Prometheus (README "Metrics"); 404 unless configured
    path("tv/api/v1/", include(("subscribers.client_api.urls", "client"))),  # subscriber apps and players
    re_path(r"^tv/api/", json_not_found),
    path("", include("subscribers.jsonsql.urls")),  # IPTVPORTAL JSONSQL: /api/jsonrpc/, /api/jsonsql/
    # Icareus Suite's Channels Management API, for the portals that enable it (catalog.md §4).
    re_path(r"^api/channels/admin/?$", channels_admin, name="icareus-channels"),
    # The Xtream Codes API for IPTV players, for the portals that enable it (players.md §3).
    path("", include("monitoring.xtream.urls")),
    path("admin/login/", admin_login, name="admin-login"),  # throttled (M4); the rest is Django's admin
    path("admin/", admin.site.urls),
    path("", include("monitoring.urls")),
    path("", include("portals.urls")),
    path("", include("content.urls")),
    path("", include("subscribers.urls")),
]

# JSON under /tv-management/api/ and /tv/api/, the HTML pages elsewhere
handler400 = "catena_site.api.errors.bad_request"
handler500 = "catena_site.api.errors.server_error"
