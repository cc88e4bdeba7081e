"""Screens of monitoring: the dashboard, play sessions, the operations log and webhooks (namespace ``monitoring``)."""

from django.urls import path

from . import views
from .webhooks import views as webhooks

app_name = "monitoring"
urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("play-sessions/", views.PlaySessionLiveView.as_view(), name="play-sessions"),
    path("play-sessions/history/", views.PlaySessionHistoryView.as_view(), name="play-session-history"),
    path("operations/", views.OperationListView.as_view(), name="operation-list"),
    path("webhooks/", webhooks.WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/new/", webhooks.WebhookCreateView.as_view(), name="webhook-create"),
    path("webhooks/<str:webhook_id>/", webhooks.DeliveryListView.as_view(), name="webhook-deliveries"),
    path("webhooks/<str:webhook_id>/edit/", webhooks.WebhookEditView.as_view(), name="webhook-edit"),
    path("webhooks/<str:webhook_id>/delete/", webhooks.WebhookDeleteView.as_view(), name="webhook-delete"),
    path("webhooks/<str:webhook_id>/deliveries/<str:delivery_id>/resend/", webhooks.DeliveryResendView.as_view(),
         name="webhook-delivery-resend"),
]
