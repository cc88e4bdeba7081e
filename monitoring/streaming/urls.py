"""``/streaming/flussonic/auth`` and ``/streaming/flussonic/events`` (mounted under ``streaming/``)."""

from django.urls import re_path

from . import views

app_name = "streaming"
urlpatterns = [
    re_path(r"^flussonic/auth/?$", views.auth, name="flussonic-auth"),
    re_path(r"^flussonic/events/?$", views.events, name="flussonic-events"),
]
