"""Screens of channels, packages, free packages and EPG sources (namespace ``content``)."""

from django.urls import path

from . import views, views_catalog
from .epg import views as views_epg

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
    path("categories/", views_catalog.CategoryListView.as_view(), name="category-list"),
    path("categories/new/", views_catalog.CategoryFormView.as_view(create=True), name="category-create"),
    path("categories/<str:category_id>/", views_catalog.CategoryFormView.as_view(), name="category-edit"),
    path("categories/<str:category_id>/move/", views_catalog.CategoryMoveView.as_view(), name="category-move"),
    path("categories/<str:category_id>/delete/", views_catalog.CategoryDeleteView.as_view(), name="category-delete"),
    path("locations/", views_catalog.LocationListView.as_view(), name="location-list"),
    path("locations/new/", views_catalog.LocationFormView.as_view(create=True), name="location-create"),
    path("locations/<str:location_id>/", views_catalog.LocationFormView.as_view(), name="location-edit"),
    path("locations/<str:location_id>/delete/", views_catalog.LocationDeleteView.as_view(), name="location-delete"),
    path("epg-sources/", views_epg.EpgSourceListView.as_view(), name="epg-source-list"),
    path("epg-sources/new/", views_epg.EpgSourceCreateView.as_view(), name="epg-source-create"),
    path("epg-sources/<str:source_id>/", views_epg.EpgSourceDetailView.as_view(), name="epg-source-detail"),
    path("epg-sources/<str:source_id>/edit/", views_epg.EpgSourceEditView.as_view(), name="epg-source-edit"),
    path("epg-sources/<str:source_id>/delete/", views_epg.EpgSourceDeleteView.as_view(), name="epg-source-delete"),
    path("epg-sources/<str:source_id>/mapping/", views_epg.EpgMappingView.as_view(), name="epg-source-mapping"),
    path("epg-sources/<str:source_id>/update/", views_epg.EpgSourceUpdateView.as_view(), name="epg-source-update"),
]
