from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^auth/sms/request/?$", views.SmsRequestView.as_view(), name="sms-request"),
    re_path(r"^auth/sms/verify/?$", views.SmsVerifyView.as_view(), name="sms-verify"),
    re_path(r"^auth/device/?$", views.DeviceLoginView.as_view(), name="device-login"),
    re_path(r"^auth/logout/?$", views.LogoutView.as_view(), name="logout"),
    re_path(r"^devices/?$", views.DevicesView.as_view(), name="devices"),
    re_path(r"^devices/(?P<device_id>[^/]+)/?$", views.DeviceView.as_view(), name="device"),
    re_path(r"^me/?$", views.MeView.as_view(), name="me"),
    re_path(r"^channels/?$", views.ChannelsView.as_view(), name="channels"),
    re_path(r"^categories/?$", views.CategoriesView.as_view(), name="categories"),
    re_path(r"^channels/(?P<channel_id>[^/]+)/programs/?$", views.ChannelProgramsView.as_view(), name="programs"),
    re_path(r"^logos/(?P<channel_id>[^/]+)/?$", views.LogoView.as_view(), name="logo"),
    re_path(r"^playlist\.m3u$", views.PlaylistView.as_view(), name="playlist"),
    re_path(r"^epg\.xml\.gz$", views.GuideView.as_view(), name="guide"),
]
