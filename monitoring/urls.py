"""Screens of monitoring: the dashboard, play sessions and the operations log (namespace ``monitoring``)."""

from django.urls import path

from . import views

app_name = "monitoring"
urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("play-sessions/", views.PlaySessionLiveView.as_view(), name="play-sessions"),
    path("play-sessions/history/", views.PlaySessionHistoryView.as_view(), name="play-session-history"),
    path("operations/", views.OperationListView.as_view(), name="operation-list"),
]
