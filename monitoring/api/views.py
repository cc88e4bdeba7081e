"""Management API: the operations log and play sessions (both read-only)."""

from rest_framework.response import Response

from catena_site.api.pagination import BoundedKeysetPagination, TimeValue, as_datetime
from catena_site.api.views import ListRetrieveMixin, PortalViewSet
from monitoring import selectors
from monitoring.filters import OperationFilter, PlaySessionFilter
from monitoring.models import PlaySession
from monitoring.operations import Operation

from .serializers import (
    OPERATION_COLUMNS,
    OPERATION_TIMES,
    SESSION_COLUMNS,
    SESSION_TIMES,
    OperationSerializer,
    PlaySessionSerializer,
    operation_body,
    session_body,
)


class OperationViewSet(ListRetrieveMixin, PortalViewSet):
    """Operations of the caller's portal, newest first. Never edited or deleted through the API."""

    queryset = Operation.objects.all()
    serializer_class = OperationSerializer
    filterset_class = OperationFilter
    list_key = "operations"
    ordering = ("-id",)

    def list(self, request, *args, **kwargs):
        # Read as plain values and written by ``operation_body`` (see PlaySessionViewSet.list).
        times = {column: TimeValue(field) for column, field in OPERATION_TIMES.items()}
        queryset = self.filter_queryset(self.get_queryset()).annotate(**times).values_list(*OPERATION_COLUMNS)
        rows = self.paginator.paginate_queryset(queryset, request, view=self, key=lambda row: (row[0],))
        return self.get_paginated_response([operation_body(row) for row in rows])


class PlaySessionViewSet(ListRetrieveMixin, PortalViewSet):
    """Play sessions of the caller's portal, newest ``openedAt`` first; ``token`` only for those who may see it."""

    queryset = PlaySession.objects.all()
    serializer_class = PlaySessionSerializer
    filterset_class = PlaySessionFilter
    pagination_class = BoundedKeysetPagination
    list_key = "sessions"
    ordering = ("-opened_at", "-id")

    def list(self, request, *args, **kwargs):
        # A page is read as plain values and written by ``session_body``: model instances, their time zone
        # loader and the serializer's machinery cost more than the keyset SQL itself (bench/lists.py).
        times = {column: TimeValue(field) for column, field in SESSION_TIMES.items()}
        queryset = self.filter_queryset(self.get_queryset()).annotate(**times).values_list(*SESSION_COLUMNS)
        rows = self.paginator.paginate_queryset(queryset, request, view=self,
                                                key=lambda row: (as_datetime(row[0]), row[1]))
        beats = selectors.cached_heartbeats(row[-1] for row in rows if row[9])  # of the active sessions
        show_token = self.caller.can_see_playback_tokens
        return self.get_paginated_response([session_body(row, show_token, beats.get(row[-1])) for row in rows])

    def retrieve(self, request, *args, **kwargs):
        session = selectors.with_fresh_heartbeats([self.get_object()])[0]
        return Response(self.get_serializer(session).data)
