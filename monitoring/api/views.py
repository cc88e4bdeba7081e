"""Management API: the operations log and play sessions (both read-only)."""

from rest_framework.response import Response

from catena_site.api.pagination import Keyset, KeysetPagination, parse_limit
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


class BoundedKeyset(Keyset):
    """A keyset whose "after the cursor" condition also bounds the leading column on its own.

    ``(a < x) OR (a = x AND id < y)`` alone makes PostgreSQL scan the index from the start of the portal's
    range and filter; with ``a <= x`` beside it the scan starts at the cursor, so every page costs the same.
    """

    def after(self, queryset, cursor: str):
        name, descending = self.fields[0]
        first = self.decode(cursor)[0]
        return super().after(queryset, cursor).filter(**{f"{name}__{'lte' if descending else 'gte'}": first})


class BoundedKeysetPagination(KeysetPagination):
    def paginate_queryset(self, queryset, request, view=None):
        self.list_key = getattr(view, "list_key", "results")
        keyset = BoundedKeyset(queryset.model, tuple(getattr(view, "ordering", ("id",))))
        limit = parse_limit(request.query_params.get("limit"))
        rows, self.next_cursor = keyset.page(queryset, request.query_params.get("cursor"), limit)
        return rows


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
