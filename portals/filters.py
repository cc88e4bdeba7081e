"""FilterSets for portal-owned lists, used by both the API and the screens."""

from django_filters import rest_framework as filters

from catena_site.api.filters import SearchFilter

from .models import Manager


class ManagerFilter(filters.FilterSet):
    search = SearchFilter(fields=("email", "name"), label="Email or name")

    class Meta:
        model = Manager
        fields = []
