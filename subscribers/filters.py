"""FilterSet of the subscriber list, used by both the API and the screens."""

from django.db.models import Q
from django_filters import rest_framework as filters

from catena_site.api.filters import MultipleIdFilter

from .models import Device, Subscriber, Subscription


class SubscriberFilter(filters.FilterSet):
    phone = filters.CharFilter(method="filter_phone", label="Phone (full or partial digits)")
    search = filters.CharFilter(method="filter_search", label="Name or phone")
    packageId = MultipleIdFilter(method="filter_package", label="Package")
    disabled = filters.BooleanFilter(field_name="disabled")

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
        condition = Q(name__icontains=value)
        digits = self._digits(value)
        if digits:
            condition |= Q(full_phone__contains=digits)
        return queryset.filter(condition)

    def filter_package(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(id__in=Subscription.objects.filter(package_id__in=value).values("subscriber_id"))


class DeviceFilter(filters.FilterSet):
    """``GET /devices``: ``subscriberId`` and ``kind`` (repeatable, "any of")."""

    subscriberId = MultipleIdFilter(field_name="subscriber_id", label="Subscriber")
    kind = filters.MultipleChoiceFilter(choices=Device.Kind.choices, label="Kind")

    class Meta:
        model = Device
        fields = []
