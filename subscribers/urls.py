"""Screens of subscribers (namespace ``subscribers``)."""

from django.urls import path

from . import views

app_name = "subscribers"
urlpatterns = [
    path("subscribers/", views.SubscriberListView.as_view(), name="list"),
    path("subscribers/new/", views.SubscriberCreateView.as_view(), name="create"),
    path("subscribers/bulk/", views.SubscriberBulkView.as_view(), name="bulk"),
    path("subscribers/bulk/extend/", views.SubscriberExtendView.as_view(), name="bulk-extend"),
    path("subscribers/import/", views.SubscriberImportView.as_view(), name="import"),
    path("subscribers/import/example.csv", views.SubscriberImportExampleView.as_view(), name="import-example"),
    path("subscribers/<str:subscriber_id>/", views.SubscriberCardView.as_view(), name="card"),
    path("subscribers/<str:subscriber_id>/edit/", views.SubscriberEditView.as_view(), name="edit"),
    path("subscribers/<str:subscriber_id>/delete/", views.SubscriberDeleteView.as_view(), name="delete"),
    path("subscribers/<str:subscriber_id>/block/", views.SubscriberBlockView.as_view(), name="block"),
    path("subscribers/<str:subscriber_id>/token/reset/", views.SubscriberTokenResetView.as_view(),
         name="token-reset"),
    path("subscribers/<str:subscriber_id>/player-password/reset/", views.SubscriberPlayerPasswordResetView.as_view(),
         name="player-password-reset"),
    path("subscribers/<str:subscriber_id>/apps/logout/", views.SubscriberAppsLogoutView.as_view(),
         name="apps-logout"),
    path("subscribers/<str:subscriber_id>/extend/", views.SubscriberExtendView.as_view(), name="extend"),
    path("subscribers/<str:subscriber_id>/devices/add/", views.SubscriberDeviceAddView.as_view(), name="device-add"),
    path("subscribers/<str:subscriber_id>/devices/<str:device_id>/rename/", views.SubscriberDeviceRenameView.as_view(),
         name="device-rename"),
    path("subscribers/<str:subscriber_id>/devices/<str:device_id>/remove/", views.SubscriberDeviceRemoveView.as_view(),
         name="device-remove"),
    path("subscribers/<str:subscriber_id>/packages/add/", views.SubscriberPackageAddView.as_view(),
         name="package-add"),
    path("subscribers/<str:subscriber_id>/packages/<str:package_id>/remove/",
         views.SubscriberPackageRemoveView.as_view(), name="package-remove"),
]
