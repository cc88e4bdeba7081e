"""Management API: the operations log (read-only)."""

from catena_site.api.views import ListRetrieveMixin, PortalViewSet
from monitoring.filters import OperationFilter
from monitoring.operations import Operation

from .serializers import OperationSerializer


class OperationViewSet(ListRetrieveMixin, PortalViewSet):
    """Operations of the caller's portal, newest first. Never edited or deleted through the API."""

    queryset = Operation.objects.all()
    serializer_class = OperationSerializer
    filterset_class = OperationFilter
    list_key = "operations"
    ordering = ("-id",)
