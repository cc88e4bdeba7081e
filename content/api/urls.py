from django.urls import re_path

from catena_site.api.routers import OptionalSlashRouter
from content.epg.api import views as epg_views

from . import views

router = OptionalSlashRouter()
router.register("channels", views.ChannelViewSet, basename="channel")
router.register("packages", views.PackageViewSet, basename="package")
router.register("categories", views.CategoryViewSet, basename="category")
router.register("locations", views.LocationViewSet, basename="location")
router.register("epg-sources", epg_views.EpgSourceViewSet, basename="epg-source")
router.register("epg-fetches", epg_views.EpgFetchViewSet, basename="epg-fetch")

urlpatterns = [
    re_path(r"^channels-packages/?$", views.ChannelPackageView.as_view(), name="channels-packages"),
    re_path(r"^portal/free-packages/(?P<package_id>[^/]+)/?$", views.FreePackageView.as_view(),
            name="portal-free-package"),
    re_path(r"^epg-sources/(?P<source_pk>[^/]+)/programs/?$", epg_views.EpgProgramViewSet.as_view({"get": "list"}),
            name="epg-source-programs"),
    *router.urls,
]
