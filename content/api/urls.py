from django.urls import re_path

from catena_site.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("channels", views.ChannelViewSet, basename="channel")
router.register("packages", views.PackageViewSet, basename="package")

urlpatterns = [
    re_path(r"^channels-packages/?$", views.ChannelPackageView.as_view(), name="channels-packages"),
    re_path(r"^portal/free-packages/(?P<package_id>[^/]+)/?$", views.FreePackageView.as_view(),
            name="portal-free-package"),
    *router.urls,
]
