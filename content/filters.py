"""FilterSets for channels and packages, used by both the API and the screens."""

from django.db.models import Q
from django_filters import rest_framework as filters

from catena_site.api.filters import MultipleIdFilter

from .models import Channel, Package, PackageChannel


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
