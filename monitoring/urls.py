"""Screens of monitoring: the dashboard and the operations log (namespace ``monitoring``)."""

from django.urls import path

from . import views

app_name = "monitoring"
urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("operations/", views.OperationListView.as_view(), name="operation-list"),
]
