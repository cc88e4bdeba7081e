"""Management API: the operations log and play sessions (both read-only)."""

from rest_framework.response import Response

from catena_site.api.pagination import BoundedKeysetPagination
from catena_site.api.views import ListRetrieveMixin, PortalViewSet
from monitoring import selectors
from monitoring.filters import OperationFilter, PlaySessionFilter
from monitoring.models import PlaySession
from monitoring.operations import Operation

from .serializers import OperationSerializer, PlaySessionSerializer


class OperationViewSet(ListRetrieveMixin, PortalViewSet):
    """Operations of the caller's portal, newest first. Never edited or deleted through the API."""

    queryset = Operation.objects.all()
    serializer_class = OperationSerializer
    filterset_class = OperationFilter
    list_key = "operations"
    ordering = ("-id",)


class PlaySessionViewSet(ListRetrieveMixin, PortalViewSet):
    """Play sessions of the caller's portal, newest ``openedAt`` first; ``token`` only for those who may see it."""

    queryset = PlaySession.objects.all()
    serializer_class = PlaySessionSerializer
    filterset_class = PlaySessionFilter
    pagination_class = BoundedKeysetPagination
    list_key = "sessions"
    ordering = ("-opened_at", "-id")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        sessions = selectors.with_fresh_heartbeats(page)
        return self.get_paginated_response(self.get_serializer(sessions, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        session = selectors.with_fresh_heartbeats([self.get_object()])[0]
        return Response(self.get_serializer(session).data)
