"""FilterSet of the subscriber list, used by both the API and the screens."""

import datetime as dt

from django.db.models import Q
from django.utils import timezone
from django_filters import rest_framework as filters

from catena_site.api.filters import DateOrDateTimeFilter, MultipleIdFilter
from content.filters import WholeNumberFilter

from .access import in_force_filter
from .models import Device, Subscriber, Subscription

EXPIRES_WITHIN_RULE = "Must be a whole number of days from 1 to 3650."


class SubscriberFilter(filters.FilterSet):
    phone = filters.CharFilter(method="filter_phone", label="Phone (full or partial digits)")
    search = filters.CharFilter(method="filter_search", label="Name, phone or player login")
    packageId = MultipleIdFilter(method="filter_package", label="Package")
    disabled = filters.BooleanFilter(field_name="disabled")
    expiresBefore = DateOrDateTimeFilter(
        method="filter_expires_before",
        label="Has a subscription in force now that ends before this instant (YYYY-MM-DD or ISO 8601)")
    expiresWithinDays = WholeNumberFilter(
        method="filter_expires_within", min_value=1, max_value=3650,
        error_messages={"min_value": EXPIRES_WITHIN_RULE, "max_value": EXPIRES_WITHIN_RULE,
                        "invalid": EXPIRES_WITHIN_RULE},
        label="Has a subscription in force now that ends within this many days")
    expired = filters.BooleanFilter(
        method="filter_expired",
        label="true: has a subscription whose period has ended; false: has none")

    class Meta:
        model = Subscriber
        fields = []

    @staticmethod
    def _digits(value: str) -> str:
        return "".join(ch for ch in value if ch.isdigit())

    def filter_phone(self, queryset, name, value):
        digits = self._digits(value)
        return queryset.filter(full_phone__contains=digits) if digits else queryset

    def filter_search(self, queryset, name, value):
        if not value:
            return queryset
        condition = Q(name__icontains=value) | Q(login__icontains=value)
        digits = self._digits(value)
        if digits:
            condition |= Q(full_phone__contains=digits)
        return queryset.filter(condition)

    def filter_package(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(id__in=Subscription.objects.filter(package_id__in=value).values("subscriber_id"))

    @staticmethod
    def _ending_before(queryset, instant: dt.datetime):
        now = timezone.now()
        ending = Subscription.objects.filter(in_force_filter(now), expires_at__lt=instant)
        return queryset.filter(id__in=ending.values("subscriber_id"))

    def filter_expires_before(self, queryset, name, value):
        return self._ending_before(queryset, value) if value else queryset

    def filter_expires_within(self, queryset, name, value):
        if value is None:
            return queryset
        return self._ending_before(queryset, timezone.now() + dt.timedelta(days=int(value)))

    def filter_expired(self, queryset, name, value):
        if value is None:
            return queryset
        holders = Subscription.objects.filter(expires_at__lte=timezone.now()).values("subscriber_id")
        return queryset.filter(id__in=holders) if value else queryset.exclude(id__in=holders)


class DeviceFilter(filters.FilterSet):
    """``GET /devices``: ``subscriberId`` and ``kind`` (repeatable, "any of")."""

    subscriberId = MultipleIdFilter(field_name="subscriber_id", label="Subscriber")
    kind = filters.MultipleChoiceFilter(choices=Device.Kind.choices, label="Kind")

    class Meta:
        model = Device
        fields = []
