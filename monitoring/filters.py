"""FilterSets of the monitoring lists, shared by the API and the screens."""

import datetime as dt

from django import forms
from django_filters import rest_framework as filters

from catena_site.api.filters import DateOrDateTimeFilter, MultipleIdFilter, MultipleValueFilter

from .models import PlaySession
from .operations import Delivery, DeliveryStatus, Operation, OperationType, Webhook


class OperationFilter(filters.FilterSet):
    """``type``, ``subscriberId``, ``packageId`` (repeatable, "any of"), ``actorId`` and a creation range."""

    type = MultipleValueFilter(field_name="type", allowed=set(OperationType.values))
    subscriberId = MultipleIdFilter(field_name="subscriber_id")
    packageId = MultipleIdFilter(field_name="package_id")
    actorId = MultipleIdFilter(field_name="actor_manager_id", label="Manager (actor)")
    created_at_gte = DateOrDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_at_lt = DateOrDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Operation
        fields = []


class UnixTimeField(forms.Field):
    """Unix seconds (a whole number) as an aware UTC datetime; anything else is a 400 naming the parameter."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            seconds = int(str(value).strip())
        except ValueError:
            raise forms.ValidationError("Use Unix seconds (a whole number).") from None
        if not 0 <= seconds <= 2**35:
            raise forms.ValidationError("Out of range.")
        return dt.datetime.fromtimestamp(seconds, dt.UTC)


class UnixTimeFilter(filters.Filter):
    field_class = UnixTimeField


class PlaySessionFilter(filters.FilterSet):
    """``subscriberId``, ``channelId`` (repeatable, "any of"), ``active`` and an ``openedAt`` range in Unix seconds.

    Each combination is served by an index of ``PlaySession`` that ends in the list order (opened_at, id).
    """

    subscriberId = MultipleIdFilter(field_name="subscriber_id", label="Subscriber")
    channelId = MultipleIdFilter(field_name="channel_id", label="Channel")
    active = filters.BooleanFilter(field_name="active")
    opened_at_gte = UnixTimeFilter(field_name="opened_at", lookup_expr="gte", label="Opened at or after (Unix s)")
    opened_at_lt = UnixTimeFilter(field_name="opened_at", lookup_expr="lt", label="Opened before (Unix s)")

    class Meta:
        model = PlaySession
        fields = []


class WebhookFilter(filters.FilterSet):
    """``active=true|false``."""

    active = filters.BooleanFilter(field_name="active")

    class Meta:
        model = Webhook
        fields = []


class DeliveryFilter(filters.FilterSet):
    """``status`` and ``type`` (the operation's), both repeatable ("any of")."""

    status = MultipleValueFilter(field_name="status", allowed=set(DeliveryStatus.values))
    type = MultipleValueFilter(field_name="type", allowed=set(OperationType.values))

    class Meta:
        model = Delivery
        fields = []
