"""Base API views: tenancy, lookups by public ID and the documented status codes."""

from __future__ import annotations

from django.http import Http404
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from catena_site.ids import InvalidId, decode_id, encode_id


def decode_path_id(value: str) -> int:
    """A public ID from a URL path; anything malformed is a 404, like a missing object."""
    try:
        return decode_id(value)
    except InvalidId:
        raise Http404 from None


class PortalViewSet(viewsets.GenericViewSet):
    """A resource owned by the caller's portal.

    ``get_queryset`` starts from ``Model.objects.for_portal(portal)``; an ID of another portal or a
    malformed ID is a 404. ``list_key`` names the list in the page body, ``ordering`` the keyset order.
    """

    list_key = "results"
    ordering: tuple[str, ...] = ("id",)
    lookup_value_regex = r"[^/]+"

    @property
    def caller(self):
        return self.request.auth

    def get_queryset(self):
        return self.queryset.model.objects.for_portal(self.caller.portal)

    def get_object(self):
        pk = decode_path_id(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        obj = self.get_queryset().filter(pk=pk).first()
        if obj is None:
            raise Http404
        self.check_object_permissions(self.request, obj)
        return obj

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "caller": getattr(self.request, "auth", None)}

    def deleted(self, pk: int) -> Response:
        """Every DELETE answers 201 with the deleted object's ID, as the manual documents."""
        return Response({"deleted": encode_id(pk)}, status=status.HTTP_201_CREATED)


class ListRetrieveMixin(mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """GET on the collection (filtered, keyset-paginated) and on one object."""
