"""Management API: webhooks and their deliveries (operations.md §3). Admins only (``isAdmin``), reads included:
a webhook is an integration of the portal, like its API key."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catena_site.api.fields import IdField
from catena_site.api.permissions import IsPortalMember
from catena_site.api.views import (
    ListRetrieveMixin,
    PortalViewSet,
    decode_path_id,
    json_object,
    portal_object,
)
from catena_site.errors import Forbidden
from monitoring.filters import DeliveryFilter, WebhookFilter
from monitoring.operations import UNFINISHED, Delivery, Webhook
from monitoring.webhooks import services
from monitoring.webhooks.inputs import WebhookInput


class AdminsOnly(IsPortalMember):
    """Every method needs ``isAdmin`` (the owner and the API key have it)."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        try:
            request.auth.require(services.PERMISSION, "Managing webhooks")
        except Forbidden as refusal:
            self.message = refusal.message
            return False
        return True


class WebhookSerializer(serializers.Serializer):
    """A webhook; ``secret`` is null except in the answer to its creation."""

    webhookId = IdField(source="id", read_only=True)
    url = serializers.CharField(read_only=True)
    types = serializers.ListField(child=serializers.CharField(), read_only=True,
                                  help_text="Operation types it receives; [] for all.")
    secret = serializers.CharField(read_only=True, allow_null=True,
                                   help_text="Signs every delivery (X-Catena-Signature); shown once, on creation.")
    active = serializers.BooleanField(read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    def to_representation(self, webhook) -> dict:
        data = super().to_representation(webhook)
        data["secret"] = webhook.secret if self.context.get("show_secret") else None
        return data


class DeliverySerializer(serializers.Serializer):
    """One operation sent (or to send) to one webhook; ``deliveryId`` is its ``X-Catena-Delivery`` header."""

    deliveryId = IdField(source="id", read_only=True)
    webhookId = IdField(source="webhook_id", read_only=True)
    operationId = IdField(source="operation_id", read_only=True)
    type = serializers.CharField(read_only=True, help_text="The operation's type (X-Catena-Event).")
    status = serializers.ChoiceField(choices=["pending", "sending", "delivered", "failed"], read_only=True)
    attempts = serializers.IntegerField(read_only=True)
    nextAt = serializers.DateTimeField(read_only=True, allow_null=True,
                                       help_text="When the next attempt is due; null once delivered or failed.")
    lastCode = serializers.IntegerField(source="last_code", read_only=True, allow_null=True,
                                        help_text="The HTTP status of the last attempt; null without an answer.")
    lastError = serializers.CharField(read_only=True, allow_null=True)
    lastAttemptAt = serializers.DateTimeField(source="last_attempt_at", read_only=True, allow_null=True)
    deliveredAt = serializers.DateTimeField(source="delivered_at", read_only=True, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    def to_representation(self, delivery) -> dict:
        data = super().to_representation(delivery)
        data["nextAt"] = serializers.DateTimeField().to_representation(delivery.next_at) \
            if delivery.status in UNFINISHED else None
        data["lastError"] = delivery.last_error or None
        return data


@extend_schema_view(list=extend_schema(operation_id="listWebhooks"),
                    retrieve=extend_schema(operation_id="getWebhook"))
class WebhookViewSet(ListRetrieveMixin, PortalViewSet):
    """The portal's webhooks, oldest first."""

    queryset = Webhook.objects.all()
    serializer_class = WebhookSerializer
    filterset_class = WebhookFilter
    permission_classes = [AdminsOnly]
    list_key = "webhooks"

    @extend_schema(request=WebhookInput, responses={201: WebhookSerializer}, operation_id="createWebhook",
                   description="Answers with the webhook and its signing `secret`, which is never shown again.")
    def create(self, request):
        webhook = services.create_webhook(self.caller.portal, caller=self.caller, data=json_object(request))
        data = self.get_serializer(webhook, context={**self.get_serializer_context(), "show_secret": True}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookInput(partial=True), responses=WebhookSerializer, operation_id="updateWebhook")
    def update(self, request, pk=None):
        webhook = services.update_webhook(self.get_object(), caller=self.caller, data=json_object(request))
        return self.answer(webhook)

    @extend_schema(responses={201: OpenApiResponse(description='{"deleted": "<webhookId>"}')},
                   operation_id="deleteWebhook")
    def destroy(self, request, pk=None):
        webhook = self.get_object()
        services.delete_webhook(webhook, caller=self.caller)
        return self.deleted(webhook.pk)


def webhook_for(caller, public_id: str) -> Webhook:
    """The caller's portal's webhook by its ID in a path; another portal's, or a malformed ID, is a 404."""
    return portal_object(Webhook, caller.portal, decode_path_id(public_id))


@extend_schema_view(list=extend_schema(operation_id="listWebhookDeliveries"))
class DeliveryViewSet(mixins.ListModelMixin, PortalViewSet):
    """``GET /webhooks/{id}/deliveries``: a webhook's deliveries, newest first."""

    queryset = Delivery.objects.all()
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilter
    permission_classes = [AdminsOnly]
    list_key = "deliveries"
    ordering = ("-id",)

    def get_queryset(self):
        return Delivery.objects.filter(webhook=webhook_for(self.caller, self.kwargs["webhook_pk"]))


class ResendView(APIView):
    """``POST /webhooks/{id}/deliveries/{deliveryId}/resend``: "send again"."""

    permission_classes = [AdminsOnly]
    serializer_class = DeliverySerializer

    @extend_schema(request=None, responses=DeliverySerializer, operation_id="resendWebhookDelivery",
                   description="Queue the delivery again, due now, with the same `deliveryId` and a fresh 24-hour "
                               "retry window; it is sent before the webhook's later deliveries still waiting.")
    def post(self, request, webhook_pk: str, delivery_pk: str):
        webhook = webhook_for(request.auth, webhook_pk)
        delivery = portal_object(Delivery.objects.filter(webhook=webhook), request.auth.portal,
                                 decode_path_id(delivery_pk))
        delivery = services.resend(delivery, caller=request.auth)
        return Response(DeliverySerializer(delivery).data)
