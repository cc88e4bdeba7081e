"""FilterSets for channels, packages and EPG, used by both the API and the screens."""

from django import forms
from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters

from catena_site.api.filters import MultipleIdFilter, MultipleValueFilter, SearchFilter

from .epg.selectors import day_error, starting_on
from .models import (
    MAX_CHANNEL_NUMBER,
    Category,
    Channel,
    ChannelCategory,
    ChannelLocation,
    EpgFetch,
    EpgSource,
    FetchStatus,
    Location,
    Package,
    PackageChannel,
    Program,
)


class WholeNumberFilter(filters.NumberFilter):
    """``?number=``: a whole number within the field's range (``abc`` or ``1.5`` is a 400 naming it)."""

    field_class = forms.IntegerField


class ChannelFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="name")
    search = SearchFilter(fields=("name", "title"), label="Name or title")
    packageId = MultipleIdFilter(method="filter_package", label="Package")
    categoryId = MultipleIdFilter(method="filter_category", label="Category")
    locationId = MultipleIdFilter(method="filter_location", label="Location")
    number = WholeNumberFilter(field_name="number", label="Number", min_value=1, max_value=MAX_CHANNEL_NUMBER)

    class Meta:
        model = Channel
        fields = []

    def filter_package(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(id__in=PackageChannel.objects.filter(package_id__in=value).values("channel_id"))

    def filter_category(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(id__in=ChannelCategory.objects.filter(category_id__in=value).values("channel_id"))

    def filter_location(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(id__in=ChannelLocation.objects.filter(location_id__in=value).values("channel_id"))


class CategoryFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="name")
    search = SearchFilter(fields=("name", "title"), label="Name or title")

    class Meta:
        model = Category
        fields = []


class LocationFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="name")
    search = SearchFilter(fields=("name", "title"), label="Name or title")

    class Meta:
        model = Location
        fields = []


class PackageFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="name")
    search = SearchFilter(fields=("name", "description"), label="Name or description")

    class Meta:
        model = Package
        fields = []


# --- EPG --------------------------------------------------------------------------------------------------


class EpgSourceFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="name")
    search = SearchFilter(fields=("name", "url"), label="Name or URL")

    class Meta:
        model = EpgSource
        fields = []


class EpgFetchFilter(filters.FilterSet):
    epgSourceId = MultipleIdFilter(field_name="epg_source_id", label="EPG source")
    status = MultipleValueFilter(field_name="status", allowed=FetchStatus.values, label="Status")

    class Meta:
        model = EpgFetch
        fields = []


def validate_program_day(value) -> None:
    if value is not None and (problem := day_error(value)):
        raise ValidationError(problem)


class ProgramFilter(filters.FilterSet):
    date = filters.DateFilter(method="filter_date", label="UTC day of the start (YYYY-MM-DD)",
                              validators=[validate_program_day])
    epgChannelName = filters.CharFilter(field_name="epg_channel_name", label="EPG channel")

    class Meta:
        model = Program
        fields = []

    def filter_date(self, queryset, name, value):
        return starting_on(queryset, value) if value else queryset
