"""Management API: subscribers, blocking, playback tokens and package subscriptions."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from catena_site.api.pagination import TimeValue
from catena_site.api.permissions import CanManageSubscribers
from catena_site.api.views import LinkView, ListRetrieveMixin, PortalViewSet, json_object
from content.models import Package
from subscribers import devices, selectors, services
from subscribers.filters import DeviceFilter, SubscriberFilter
from subscribers.inputs import (
    DeviceInput,
    DeviceNameInput,
    PlayerPasswordInput,
    SubscriberInput,
    SubscriptionInput,
    SubscriptionPeriodInput,
)
from subscribers.models import Device, Subscriber

from .serializers import (
    SUBSCRIBER_COLUMNS,
    SUBSCRIBER_TIMES,
    DeviceSerializer,
    SubscriberRow,
    SubscriberSerializer,
    SubscriptionPeriodSerializer,
    SubscriptionSerializer,
    period_body,
    subscriber_body,
)


class SubscriberViewSet(ListRetrieveMixin, PortalViewSet):
    """Subscribers of the caller's portal. Everyone reads; ``isSubscriberAdmin`` writes."""

    queryset = Subscriber.objects.all()
    serializer_class = SubscriberSerializer
    filterset_class = SubscriberFilter
    permission_classes = [CanManageSubscribers]
    list_key = "subscribers"

    def get_queryset(self):
        queryset = selectors.subscribers_for(self.caller.portal)
        # A page loads its package IDs as plain values (``list``), not as prefetched subscriptions, and reads the
        # suspicion's columns through the join of ``values_list``.
        return queryset.prefetch_related(None).select_related(None) if self.action == "list" else queryset

    def list(self, request, *args, **kwargs):
        # Written by ``subscriber_body``: no ModelSerializer, no prefetch, no model instances but the
        # subscribers. They made ~3,000 objects a page tied in reference cycles (subscription ↔ subscriber,
        # ``ReturnList`` ↔ serializer) that only the garbage collector frees, and the full collections they
        # set off every twenty pages or so took 50–200 ms (bench/lists.py). Still two queries: the page, then
        # its subscriptions. (No docstring: it would replace the class's as the operation's description.)
        # Since then the page is read as plain values too (``SubscriberRow``): the model instances, their time
        # zone loader and the suspicions' instances cost more than the page's SQL.
        times = {column: TimeValue(field) for column, field in SUBSCRIBER_TIMES.items()}
        queryset = self.filter_queryset(self.get_queryset()).annotate(**times).values_list(*SUBSCRIBER_COLUMNS)
        page = [SubscriberRow(row) for row in self.paginator.paginate_queryset(
            queryset, request, view=self, key=lambda row: (row[0],))]
        subscriptions = selectors.periods_by_subscriber([s.id for s in page])
        now = timezone.now()  # one moment for the whole page's "active" periods
        return self.get_paginated_response([subscriber_body(s, self.caller, subscriptions[s.id], now) for s in page])

    @extend_schema(request=SubscriberInput, responses={201: SubscriberSerializer})
    def create(self, request):
        subscriber = services.create_subscriber(self.caller.portal, caller=self.caller, data=json_object(request))
        return self.answer(subscriber, status.HTTP_201_CREATED)

    # An update changes only the fields sent: the document's body has no required field (PatchedSubscriberInput).
    @extend_schema(request=SubscriberInput(partial=True), responses=SubscriberSerializer)
    def update(self, request, pk=None):
        subscriber = services.update_subscriber(self.get_object(), caller=self.caller, data=json_object(request))
        return self.answer(subscriber)

    @extend_schema(responses={201: OpenApiResponse(description='{"deleted": "<subscriberId>"}')})
    def destroy(self, request, pk=None):
        subscriber = self.get_object()
        services.delete_subscriber(subscriber, caller=self.caller)
        return self.deleted(subscriber.pk)

    @extend_schema(request=None, responses=SubscriberSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        return self.answer(services.set_disabled(self.get_object(), True, caller=self.caller))

    @extend_schema(request=None, responses=SubscriberSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        return self.answer(services.set_disabled(self.get_object(), False, caller=self.caller))

    @extend_schema(request=None, responses=SubscriberSerializer)
    @action(detail=True, methods=["post"], url_path="reset_playback_token")
    def reset_playback_token(self, request, pk=None):
        return self.answer(services.reset_playback_token(self.get_object(), caller=self.caller))

    # players.md §2. The body is optional: none (or no ``playerPassword``) generates a password.
    @extend_schema(request=PlayerPasswordInput, responses=SubscriberSerializer)
    @action(detail=True, methods=["post"], url_path="reset_player_password")
    def reset_player_password(self, request, pk=None):
        subscriber = self.get_object()
        body = json_object(request) if request.data else {}
        password = PlayerPasswordInput.check(body).get("playerPassword")
        return self.answer(services.reset_player_password(subscriber, caller=self.caller, password=password))


class SubscriptionView(LinkView):
    """``POST``/``PUT``/``DELETE /packages-subscribers``: subscribe a subscriber to a package (optionally for a
    period), change a subscription's period, or end it."""

    permission_classes = [CanManageSubscribers]
    serializer_class = SubscriptionInput
    ends = (("subscriberId", Subscriber, "subscriber"), ("packageId", Package, "package"))

    def linked_objects(self, request) -> list:
        return list(services.subscription_of(request.auth.portal, json_object(request)))

    @extend_schema(request=SubscriptionPeriodInput, responses={200: SubscriptionSerializer},
                   operation_id="createPackageSubscriber")
    def post(self, request):
        subscriber, package, period = services.subscription_and_period(request.auth.portal, json_object(request))
        services.subscribe(subscriber, package, caller=request.auth, **period)
        return Response(self.link_body(request, (subscriber, package)), status=status.HTTP_200_OK)

    @extend_schema(request=SubscriptionPeriodInput, responses={200: SubscriptionPeriodSerializer},
                   operation_id="updatePackageSubscriber")
    def put(self, request):
        subscriber, package, period = services.subscription_and_period(request.auth.portal, json_object(request))
        subscription = services.update_subscription_period(subscriber, package, period, caller=request.auth)
        return Response({**self.link_body(request, (subscriber, package)), **period_body(subscription)},
                        status=status.HTTP_200_OK)

    @extend_schema(request=SubscriptionInput, responses={201: SubscriptionSerializer},
                   operation_id="deletePackageSubscriber")
    def delete(self, request):
        subscriber, package = self.linked_objects(request)
        services.unsubscribe(subscriber, package, caller=request.auth)
        return Response(self.link_body(request, (subscriber, package)), status=status.HTTP_201_CREATED)


class DeviceViewSet(ListRetrieveMixin, PortalViewSet):
    """Devices of the subscribers of the caller's portal (lifecycle.md §2). Everyone reads; ``isSubscriberAdmin``
    writes."""

    queryset = Device.objects.all()
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilter
    permission_classes = [CanManageSubscribers]
    list_key = "devices"

    @extend_schema(request=DeviceInput, responses={201: DeviceSerializer, 404: None})  # a subscriber not ours
    def create(self, request):
        device = devices.add_device(self.caller.portal, caller=self.caller, data=json_object(request))
        return self.answer(device, status.HTTP_201_CREATED)

    @extend_schema(request=DeviceNameInput, responses=DeviceSerializer)
    def update(self, request, pk=None):
        device = devices.rename_device(self.get_object(), caller=self.caller, data=json_object(request))
        return self.answer(device)

    @extend_schema(responses={201: OpenApiResponse(description='{"deleted": "<deviceId>"}')})
    def destroy(self, request, pk=None):
        device = self.get_object()
        devices.remove_device(device, caller=self.caller)
        return self.deleted(device.pk)
