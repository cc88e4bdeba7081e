from django.urls import re_path

from catena_site.api.routers import OptionalSlashRouter

from . import views, webhooks

router = OptionalSlashRouter()
router.register("operations", views.OperationViewSet, basename="operation")
router.register("play-sessions", views.PlaySessionViewSet, basename="play-session")
router.register("webhooks", webhooks.WebhookViewSet, basename="webhook")

urlpatterns = [
    re_path(r"^webhooks/(?P<webhook_pk>[^/]+)/deliveries/?$", webhooks.DeliveryViewSet.as_view({"get": "list"}),
            name="webhook-deliveries"),
    re_path(r"^webhooks/(?P<webhook_pk>[^/]+)/deliveries/(?P<delivery_pk>[^/]+)/resend/?$",
            webhooks.ResendView.as_view(), name="webhook-delivery-resend"),
    *router.urls,
]
