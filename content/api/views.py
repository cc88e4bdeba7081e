"""Management API: channels (with logos), packages, channel-package links and free packages."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.http import quote_etag
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
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
from content.filters import ChannelFilter, PackageFilter
from content.inputs import ChannelInput, ChannelPackageInput, PackageInput
from content.models import Channel, Package
from portals.api.serializers import PortalSerializer
from portals.api.views import PortalView

from .serializers import ChannelSerializer, PackageSerializer

LOGO_CACHE_CONTROL = "public, max-age=300, must-revalidate"


def logo_response(request, channel: Channel) -> HttpResponse:
    """The stored logo with its content type, an ETag, caching headers, and 304 for a matching ETag."""
    etag = quote_etag(channel.logo_etag)
    if etag in [tag.strip() for tag in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(bytes(channel.logo), content_type=channel.logo_content_type)
    response["ETag"] = etag
    response["Cache-Control"] = LOGO_CACHE_CONTROL
    return response


class ChannelViewSet(ListRetrieveMixin, PortalViewSet):
    """Channels of the caller's portal. Everyone reads; ``isContentAdmin`` writes."""

    queryset = Channel.objects.all()
    serializer_class = ChannelSerializer
    filterset_class = ChannelFilter
    permission_classes = [CanManageContent]
    list_key = "channels"

    def get_queryset(self):
        return selectors.channels_for(self.caller.portal)

    @extend_schema(request=ChannelInput, responses={201: ChannelSerializer})
    def create(self, request):
        channel = services.create_channel(self.caller.portal, caller=self.caller, data=json_object(request))
        return self.answer(channel, status.HTTP_201_CREATED)

    @extend_schema(request=ChannelInput(partial=True), responses=ChannelSerializer)
    def update(self, request, pk=None):
        channel = services.update_channel(self.get_object(), caller=self.caller, data=json_object(request))
        return self.answer(channel)

    @extend_schema(responses={201: OpenApiResponse(description='{"deleted": "<channelId>"}')})
    def destroy(self, request, pk=None):
        channel = self.get_object()
        services.delete_channel(channel, caller=self.caller)
        return self.deleted(channel.pk)

    @extend_schema(responses={(200, "image/*"): OpenApiResponse(description="The logo bytes"), 304: None, 404: None})
    @action(detail=True, methods=["get"], url_path="logo", url_name="logo")
    def logo(self, request, pk=None):
        no_logo = "This channel has no logo."
        channel = portal_object(Channel, self.caller.portal, decode_path_id(pk), message=no_logo)
        if not channel.logo_etag:
            raise NotFound(no_logo)
        return logo_response(request, channel)


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
        force = request.query_params.get("force", "").lower() in ("1", "true", "yes")
        services.delete_package(package, caller=self.caller, force=force)
        return self.deleted(package.pk)


class ChannelPackageView(LinkView):
    """``POST``/``DELETE /channels-packages``: add a channel to a package or remove it."""

    permission_classes = [CanManageContent]
    serializer_class = ChannelPackageInput
    ends = (("channelId", Channel, "channel"), ("packageId", Package, "package"))

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
