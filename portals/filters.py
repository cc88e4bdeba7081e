"""FilterSets for portal-owned lists, used by both the API and the screens."""

from django.db.models import Q
from django_filters import rest_framework as filters

from .models import Manager


class ManagerFilter(filters.FilterSet):
    search = filters.CharFilter(method="filter_search", label="Email or name")

    class Meta:
        model = Manager
        fields = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(email__icontains=value) | Q(name__icontains=value)) if value else queryset
