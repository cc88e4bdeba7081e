"""The Xtream Codes API's paths, at the portal's host root (players.md §3), where players look for them."""

from django.urls import path, re_path

from . import views

_CREDENTIALS = r"(?P<username>[^/]+)/(?P<password>[^/]+)"
_STREAM = r"(?P<stream>[^/.]+)\.(?P<ext>[^/.]+)"

urlpatterns = [
    path("player_api.php", views.player_api, name="xtream-player-api"),
    path("get.php", views.get_php, name="xtream-get"),
    path("xmltv.php", views.xmltv_php, name="xtream-xmltv"),
    re_path(rf"^live/{_CREDENTIALS}/{_STREAM}$", views.live, name="xtream-live"),
    re_path(rf"^timeshift/{_CREDENTIALS}/(?P<minutes>[^/]+)/(?P<start>[^/]+)/{_STREAM}$", views.timeshift,
            name="xtream-timeshift"),
]
