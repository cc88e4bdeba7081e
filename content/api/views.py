"""Management API: channels (with logos), packages, channel-package links and free packages."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.http import quote_etag
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from catena_site.api.permissions import CanManage, CanManageContent
from catena_site.api.views import (
    LinkView,
    ListRetrieveMixin,
    PortalViewSet,
    decode_path_id,
    json_object,
    portal_object,
)
from catena_site.errors import NotFound
from content import selectors, services
from content.epg import mapping as epg_mapping
from content.filters import CategoryFilter, ChannelFilter, LocationFilter, PackageFilter
from content.inputs import CategoryInput, ChannelInput, ChannelPackageInput, LocationInput, PackageInput
from content.models import Category, Channel, Location, LogoSize, Package
from portals.api.serializers import PortalSerializer
from portals.api.views import PortalView

from .serializers import CategorySerializer, ChannelSerializer, LocationSerializer, PackageSerializer

LOGO_CACHE_CONTROL = "public, max-age=300, must-revalidate"


def logo_response(request, channel: Channel, size: str | None = None) -> HttpResponse:
    """The stored logo — or its ``size`` rendition, the original itself for a size it is not wider than — with
    its content type, an ETag, caching headers, and 304 for a matching ETag. The channel must have a logo."""
    rendition = channel.logo_renditions.filter(size=size).first() if size else None
    if rendition is None:
        etag, image, content_type = channel.logo_etag, channel.logo, channel.logo_content_type
    else:
        etag, image, content_type = f"{channel.logo_etag}-{size}", rendition.image, rendition.content_type
    etag = quote_etag(etag)
    if etag in [tag.strip() for tag in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(bytes(image), content_type=content_type)
    response["ETag"] = etag
    response["Cache-Control"] = LOGO_CACHE_CONTROL
    return response


# ``?ordering=`` of the channel list → its keyset order (each ends in a unique column).
CHANNEL_ORDERINGS = {
    "number": selectors.CHANNEL_ORDER,
    "title": ("title", "id"),
    "name": ("name", "id"),
}
CHANNEL_ORDERINGS.update({f"-{key}": tuple(f"-{field}" for field in fields)
                          for key, fields in list(CHANNEL_ORDERINGS.items())})


def force_param(request) -> bool:
    return request.query_params.get("force", "").lower() in ("1", "true", "yes")


EPG_WARNING_HEADER = OpenApiParameter(
    "Warning", str, OpenApiParameter.HEADER, response=[200, 201],
    description='Sent when an epgChannelName is not among the XMLTV channels its source\'s last fetch listed '
                '(GET /epg-sources/{id}/channels): 299 - "<text>", one per such name, comma-separated. The '
                'channel is saved all the same (the guide may list it later); no warning for a source never fetched.')


def with_epg_warnings(response: Response, channel: Channel) -> Response:
    """Add a ``Warning: 299 - "…"`` header (RFC 7234 §5.5) per EPG channel name the channel's sources do not list
    (:func:`content.epg.mapping.epg_warnings`): the save is done, the body is the documented one."""
    warnings = epg_mapping.epg_warnings(channel)
    if warnings:
        response["Warning"] = ", ".join(
            # Control characters and non-ASCII escaped (a name may hold a newline: never a broken header).
            '299 - "{}"'.format(text.encode("unicode_escape").decode("ascii").replace('"', "'"))
            for text in warnings)
    return response


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter(
    "ordering", str, enum=list(CHANNEL_ORDERINGS),
    description="number (the default: channels without a number last, then by title), title or name; "
                "'-' for descending.")]))
class ChannelViewSet(ListRetrieveMixin, PortalViewSet):
    """Channels of the caller's portal. Everyone reads; ``isContentAdmin`` writes."""

    queryset = Channel.objects.all()
    serializer_class = ChannelSerializer
    filterset_class = ChannelFilter
    permission_classes = [CanManageContent]
    list_key = "channels"

    def get_queryset(self):
        return selectors.channels_for(self.caller.portal)

    @property
    def ordering(self) -> tuple[str, ...]:
        raw = self.request.query_params.get("ordering", "").strip() if self.request else ""
        if raw and raw not in CHANNEL_ORDERINGS:
            raise ValidationError({"ordering": [f"Must be one of: {', '.join(CHANNEL_ORDERINGS)}."]})
        return CHANNEL_ORDERINGS[raw or "number"]

    @extend_schema(request=ChannelInput, responses={201: ChannelSerializer}, parameters=[EPG_WARNING_HEADER])
    def create(self, request):
        channel = services.create_channel(self.caller.portal, caller=self.caller, data=json_object(request))
        return with_epg_warnings(self.answer(channel, status.HTTP_201_CREATED), channel)

    @extend_schema(request=ChannelInput(partial=True), responses=ChannelSerializer, parameters=[EPG_WARNING_HEADER])
    def update(self, request, pk=None):
        channel = services.update_channel(self.get_object(), caller=self.caller, data=json_object(request))
        return with_epg_warnings(self.answer(channel), channel)

    @extend_schema(responses={201: OpenApiResponse(description='{"deleted": "<channelId>"}')})
    def destroy(self, request, pk=None):
        channel = self.get_object()
        services.delete_channel(channel, caller=self.caller)
        return self.deleted(channel.pk)

    @extend_schema(responses={(200, "image/*"): OpenApiResponse(description="The logo bytes"), 304: None, 404: None})
    @action(detail=True, methods=["get"], url_path="logo", url_name="logo")
    def logo(self, request, pk=None):
        return logo_response(request, self._channel_with_logo(pk, Channel.objects.all()))

    @extend_schema(
        operation_id="channels_logo_rendition",
        parameters=[OpenApiParameter("size", str, OpenApiParameter.PATH, enum=LogoSize.values,
                                     description="small, medium or large: 64, 160 or 512 pixels wide")],
        responses={(200, "image/*"): OpenApiResponse(description="The logo scaled to the size's width (aspect "
                                                                 "kept), or the original if it is not wider"),
                   304: None, 404: None})
    @action(detail=True, methods=["get"], url_path=f"logo/(?P<size>{'|'.join(LogoSize.values)})",
            url_name="logo-rendition")
    def logo_rendition(self, request, pk=None, size=None):
        # The original's bytes are read only when they are served for this size.
        return logo_response(request, self._channel_with_logo(pk, Channel.objects.defer("logo")), size)

    def _channel_with_logo(self, pk, queryset) -> Channel:
        no_logo = "This channel has no logo."
        channel = portal_object(queryset, self.caller.portal, decode_path_id(pk), message=no_logo)
        if not channel.logo_etag:
            raise NotFound(no_logo)
        return channel


class PackageViewSet(ListRetrieveMixin, PortalViewSet):
    """Packages of the caller's portal. Everyone reads; ``isContentAdmin`` writes."""

    queryset = Package.objects.all()
    serializer_class = PackageSerializer
    filterset_class = PackageFilter
    permission_classes = [CanManageContent]
    list_key = "packages"

    def get_queryset(self):
        return selectors.packages_for(self.caller.portal)

    @extend_schema(request=PackageInput, responses={201: PackageSerializer})
    def create(self, request):
        package = services.create_package(self.caller.portal, caller=self.caller, data=json_object(request))
        return self.answer(package, status.HTTP_201_CREATED)

    @extend_schema(request=PackageInput(partial=True), responses=PackageSerializer)
    def update(self, request, pk=None):
        package = services.update_package(self.get_object(), caller=self.caller, data=json_object(request))
        return self.answer(package)

    @extend_schema(parameters=[OpenApiParameter("force", bool, description="Delete even with subscribers or free")],
                   responses={201: OpenApiResponse(description='{"deleted": "<packageId>"}'), 409: None})
    def destroy(self, request, pk=None):
        package = self.get_object()
        services.delete_package(package, caller=self.caller, force=force_param(request))
        return self.deleted(package.pk)


class CategoryViewSet(ListRetrieveMixin, PortalViewSet):
    """Categories of the caller's portal, by position. Everyone reads; ``isContentAdmin`` writes."""

    queryset = Category.objects.all()
    serializer_class = CategorySerializer
    filterset_class = CategoryFilter
    permission_classes = [CanManageContent]
    list_key = "categories"
    ordering = ("position", "id")

    @extend_schema(request=CategoryInput, responses={201: CategorySerializer})
    def create(self, request):
        category = services.create_category(self.caller.portal, caller=self.caller, data=json_object(request))
        return self.answer(category, status.HTTP_201_CREATED)

    @extend_schema(request=CategoryInput(partial=True), responses=CategorySerializer)
    def update(self, request, pk=None):
        category = services.update_category(self.get_object(), caller=self.caller, data=json_object(request))
        return self.answer(category)

    @extend_schema(responses={201: OpenApiResponse(description='{"deleted": "<categoryId>"}')})
    def destroy(self, request, pk=None):
        category = self.get_object()
        services.delete_category(category, caller=self.caller)
        return self.deleted(category.pk)


class LocationViewSet(ListRetrieveMixin, PortalViewSet):
    """Locations of the caller's portal. Everyone reads; ``isContentAdmin`` writes."""

    queryset = Location.objects.all()
    serializer_class = LocationSerializer
    filterset_class = LocationFilter
    permission_classes = [CanManageContent]
    list_key = "locations"

    @extend_schema(request=LocationInput, responses={201: LocationSerializer})
    def create(self, request):
        location = services.create_location(self.caller.portal, caller=self.caller, data=json_object(request))
        return self.answer(location, status.HTTP_201_CREATED)

    @extend_schema(request=LocationInput(partial=True), responses=LocationSerializer)
    def update(self, request, pk=None):
        location = services.update_location(self.get_object(), caller=self.caller, data=json_object(request))
        return self.answer(location)

    @extend_schema(parameters=[OpenApiParameter("force", bool, description="Delete even while channels are "
                                                                             "restricted to it")],
                   responses={201: OpenApiResponse(description='{"deleted": "<locationId>"}'), 409: None})
    def destroy(self, request, pk=None):
        location = self.get_object()
        services.delete_location(location, caller=self.caller, force=force_param(request))
        return self.deleted(location.pk)


class ChannelPackageView(LinkView):
    """``POST``/``DELETE /channels-packages``: add a channel to a package or remove it."""

    permission_classes = [CanManageContent]
    serializer_class = ChannelPackageInput
    ends = (("channelId", Channel, "channel"), ("packageId", Package, "package"))

    def linked_objects(self, request) -> list:
        return list(services.channel_package_of(request.auth.portal, json_object(request)))

    @extend_schema(request=ChannelPackageInput, responses={201: ChannelPackageInput},
                   operation_id="addChannelToPackage")
    def post(self, request):
        channel, package = self.linked_objects(request)
        services.add_channel_to_package(package, channel, caller=request.auth)
        return Response(self.link_body(request, (channel, package)), status=status.HTTP_201_CREATED)

    @extend_schema(request=ChannelPackageInput, responses={201: ChannelPackageInput},
                   operation_id="removeChannelFromPackage")
    def delete(self, request):
        channel, package = self.linked_objects(request)
        services.remove_channel_from_package(package, channel, caller=request.auth)
        return Response(self.link_body(request, (channel, package)), status=status.HTTP_201_CREATED)


class FreePackageView(APIView):
    """``POST``/``DELETE /portal/free-packages/{packageId}``; answers with the portal."""

    permission_classes = [CanManage]

    def _package(self, request, package_id):
        return portal_object(Package, request.auth.portal, decode_path_id(package_id),
                             message="No such package in this portal.")

    def _portal(self, request, code):
        request.auth.portal.refresh_from_db()
        return Response(PortalView.serialize(request, request.auth.portal), status=code)

    @extend_schema(request=None, responses={201: PortalSerializer}, operation_id="addFreePackage")
    def post(self, request, package_id):
        services.add_free_package(self._package(request, package_id), caller=request.auth)
        return self._portal(request, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: PortalSerializer}, operation_id="removeFreePackage")
    def delete(self, request, package_id):
        services.remove_free_package(self._package(request, package_id), caller=request.auth)
        return self._portal(request, status.HTTP_201_CREATED)
