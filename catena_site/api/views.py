"""Base API views: tenancy, lookups by public ID and the documented status codes."""

from __future__ import annotations

from django.http import Http404
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from catena_site.errors import NotFound
from catena_site.ids import InvalidId, decode_id, encode_id


def decode_path_id(value: str) -> int:
    """A public ID from a URL path; anything malformed is a 404, like a missing object."""
    try:
        return decode_id(value)
    except InvalidId:
        raise Http404 from None


def portal_object(queryset_or_model, portal, pk: int, *, message: str = "Not found."):
    """The object with primary key ``pk`` among ``portal``'s; a missing one or another portal's is a 404
    with ``message``. Every API lookup of one object by ID goes through here."""
    queryset = queryset_or_model.objects.all() if isinstance(queryset_or_model, type) else queryset_or_model
    obj = queryset.for_portal(portal).filter(pk=pk).first()
    if obj is None:
        raise NotFound(message)
    return obj


class PortalViewSet(viewsets.GenericViewSet):
    """A resource owned by the caller's portal.

    ``get_queryset`` starts from ``Model.objects.for_portal(portal)``; an ID of another portal or a
    malformed ID is a 404. ``list_key`` names the list in the page body, ``ordering`` the keyset order.
    """

    list_key = "results"
    ordering: tuple[str, ...] = ("id",)
    lookup_value_regex = r"[^/]+"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The schema generator builds a paginator without a view, so the page's documented key comes from the
        # class: each list gets a paginator subclass that knows its ``list_key`` (else the schema says "results").
        base = cls.pagination_class
        if base is not None and getattr(base, "list_key", None) != cls.list_key:
            cls.pagination_class = type(base.__name__, (base,), {"list_key": cls.list_key})

    @property
    def caller(self):
        return self.request.auth

    def get_queryset(self):
        return self.queryset.model.objects.for_portal(self.caller.portal)

    def get_object(self):
        pk = decode_path_id(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        obj = portal_object(self.get_queryset(), self.caller.portal, pk)
        self.check_object_permissions(self.request, obj)
        return obj

    def answer(self, obj, code: int = status.HTTP_200_OK) -> Response:
        """``obj`` after a change, read again through ``get_queryset`` (so with what the list loads)."""
        return Response(self.get_serializer(self.get_queryset().get(pk=obj.pk)).data, status=code)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "caller": getattr(self.request, "auth", None)}

    def deleted(self, pk: int) -> Response:
        """Every DELETE answers 201 with the deleted object's ID, as the manual documents."""
        return Response({"deleted": encode_id(pk)}, status=status.HTTP_201_CREATED)


class ListRetrieveMixin(mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """GET on the collection (filtered, keyset-paginated) and on one object."""


def json_object(request) -> dict:
    """The request body, which must be a JSON object."""
    if not isinstance(request.data, dict):
        raise ValidationError({"non_field_errors": ["The body must be a JSON object."]})
    return request.data


class LinkView(APIView):
    """``POST``/``DELETE`` of a link between two objects of the caller's portal named by ID in the body.

    ``ends`` lists ``(body field, model, label)``. ``linked_objects`` asks the owning app's service for the two
    objects: it checks the body with the link's input shape (every field's error at once; an optional
    ``portalId`` must be the caller's) and answers 404 for an ID of another portal or an unknown one.
    """

    serializer_class = None
    ends: tuple = ()

    def linked_objects(self, request) -> list:
        raise NotImplementedError

    def link_body(self, request, objects) -> dict:
        body = {field: obj.public_id for (field, _, _), obj in zip(self.ends, objects)}
        return {**body, "portalId": request.auth.portal.public_id}
