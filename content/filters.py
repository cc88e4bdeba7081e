"""FilterSets for channels, packages and EPG, used by both the API and the screens."""

import datetime as dt

from django.db.models import Q
from django_filters import rest_framework as filters

from catena_site.api.filters import MultipleIdFilter, MultipleValueFilter

from .models import Channel, EpgFetch, EpgSource, FetchStatus, Package, PackageChannel, Program


class ChannelFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="name")
    search = filters.CharFilter(method="filter_search", label="Name or title")
    packageId = MultipleIdFilter(method="filter_package", label="Package")

    class Meta:
        model = Channel
        fields = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(title__icontains=value)) if value else queryset

    def filter_package(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(id__in=PackageChannel.objects.filter(package_id__in=value).values("channel_id"))


class PackageFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="name")
    search = filters.CharFilter(method="filter_search", label="Name or description")

    class Meta:
        model = Package
        fields = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value)) if value else queryset


# --- EPG --------------------------------------------------------------------------------------------------


class EpgSourceFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="name")
    search = filters.CharFilter(method="filter_search", label="Name or URL")

    class Meta:
        model = EpgSource
        fields = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(url__icontains=value)) if value else queryset


class EpgFetchFilter(filters.FilterSet):
    epgSourceId = MultipleIdFilter(field_name="epg_source_id", label="EPG source")
    status = MultipleValueFilter(field_name="status", allowed=FetchStatus.values, label="Status")

    class Meta:
        model = EpgFetch
        fields = []


class ProgramFilter(filters.FilterSet):
    date = filters.DateFilter(method="filter_date", label="UTC day of the start (YYYY-MM-DD)")
    epgChannelName = filters.CharFilter(field_name="epg_channel_name", label="EPG channel")

    class Meta:
        model = Program
        fields = []

    def filter_date(self, queryset, name, value):
        if not value:
            return queryset
        first = dt.datetime.combine(value, dt.time.min, tzinfo=dt.UTC)
        return queryset.filter(start__gte=first, start__lt=first + dt.timedelta(days=1))
