"""Screens of channels, packages and free packages (namespace ``content``)."""

from django.urls import path

from . import views

app_name = "content"
urlpatterns = [
    path("channels/", views.ChannelListView.as_view(), name="channel-list"),
    path("channels/new/", views.ChannelCreateView.as_view(), name="channel-create"),
    path("channels/import/", views.ChannelImportView.as_view(), name="channel-import"),
    path("channels/import/example.csv", views.ChannelImportExampleView.as_view(), name="channel-import-example"),
    path("channels/<str:channel_id>/", views.ChannelEditView.as_view(), name="channel-edit"),
    path("channels/<str:channel_id>/logo", views.ChannelLogoView.as_view(), name="channel-logo"),
    path("channels/<str:channel_id>/delete/", views.ChannelDeleteView.as_view(), name="channel-delete"),
    path("packages/", views.PackageListView.as_view(), name="package-list"),
    path("packages/new/", views.PackageCreateView.as_view(), name="package-create"),
    path("packages/<str:package_id>/", views.PackageDetailView.as_view(), name="package-detail"),
    path("packages/<str:package_id>/delete/", views.PackageDeleteView.as_view(), name="package-delete"),
    path("packages/<str:package_id>/channels/add/", views.PackageChannelView.as_view(), name="package-channel-add"),
    path("packages/<str:package_id>/channels/<str:channel_id>/remove/",
         views.PackageChannelView.as_view(remove=True), name="package-channel-remove"),
    path("portal/free-packages/add/", views.FreePackageAddView.as_view(), name="free-package-add"),
    path("portal/free-packages/<str:package_id>/remove/", views.FreePackageRemoveView.as_view(),
         name="free-package-remove"),
]
