from django.urls import re_path

from catena_site.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("subscribers", views.SubscriberViewSet, basename="subscriber")
router.register("devices", views.DeviceViewSet, basename="device")

urlpatterns = [
    re_path(r"^packages-subscribers/?$", views.SubscriptionView.as_view(), name="packages-subscribers"),
    *router.urls,
]
