"""FilterSets of the monitoring lists, shared by the API and the screens."""

from django_filters import rest_framework as filters

from catena_site.api.filters import DateOrDateTimeFilter, MultipleIdFilter, MultipleValueFilter

from .operations import Operation, OperationType


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
