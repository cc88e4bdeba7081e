"""The IPTVPORTAL endpoints, at the paths its billing scripts call."""

from django.urls import path

from . import views

urlpatterns = [
    path("api/jsonrpc/", views.jsonrpc, name="api-jsonrpc"),
    path("api/jsonsql/", views.jsonsql, name="api-jsonsql"),
]
