"""Management API: EPG sources, on-demand fetches, fetch history and programmes (spec §8)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from catena_site.api.permissions import CanManageContent
from catena_site.api.views import ListRetrieveMixin, PortalViewSet, decode_path_id, json_object, portal_object
from content.epg import mapping
from content.epg import selectors as epg_selectors
from content.epg import services as epg_services
from content.filters import EpgFetchFilter, EpgSourceFilter, ProgramFilter
from content.inputs import EpgMappingInput, EpgSourceInput
from content.models import EpgFetch, EpgSource, Program

from .serializers import (
    EpgChannelSerializer,
    EpgFetchSerializer,
    EpgSourceSerializer,
    JobSerializer,
    MappingResultSerializer,
    MappingRowSerializer,
    ProgramSerializer,
)


@extend_schema_view(list=extend_schema(operation_id="listEpgSources"),
                    retrieve=extend_schema(operation_id="getEpgSource"))
class EpgSourceViewSet(ListRetrieveMixin, PortalViewSet):
    """EPG sources of the caller's portal. Everyone reads; ``isContentAdmin`` writes and starts fetches."""

    queryset = EpgSource.objects.all()
    serializer_class = EpgSourceSerializer
    filterset_class = EpgSourceFilter
    permission_classes = [CanManageContent]
    list_key = "epgSources"

    def get_queryset(self):
        return epg_selectors.epg_sources_for(self.caller.portal)

    @extend_schema(request=EpgSourceInput, responses={201: EpgSourceSerializer},
                   operation_id="createEpgSource")
    def create(self, request):
        source = epg_services.create_epg_source(self.caller.portal, caller=self.caller, data=json_object(request))
        return self.answer(source, status.HTTP_201_CREATED)

    @extend_schema(request=EpgSourceInput(partial=True), responses=EpgSourceSerializer, operation_id="updateEpgSource")
    def update(self, request, pk=None):
        source = epg_services.update_epg_source(self.get_object(), caller=self.caller, data=json_object(request))
        return self.answer(source)

    @extend_schema(responses={201: OpenApiResponse(description='{"deleted": "<epgSourceId>"}')},
                   operation_id="deleteEpgSource")
    def destroy(self, request, pk=None):
        source = self.get_object()
        epg_services.delete_epg_source(source, caller=self.caller)
        return self.deleted(source.pk)

    @extend_schema(request=None, operation_id="updateEpg",
                   responses={202: JobSerializer, 503: OpenApiResponse(
                       description='The broker is unreachable: {"message": …}; the fetch is recorded as failed.')},
                   description="Fetch the source now, in the background. While a fetch of this source is queued "
                               "or running, answers with that fetch's job id instead of starting another. When the "
                               "job cannot be queued (broker unreachable), answers 503 and records the fetch as "
                               "failed, so the source is not blocked.")
    @action(detail=True, methods=["post"], url_path="update", url_name="update")
    def start_update(self, request, pk=None):
        fetch, _ = epg_services.request_fetch(self.get_object(), caller=self.caller)
        return Response({"jobId": fetch.job_id}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(operation_id="listEpgSourceChannels", responses=inline_serializer(
        "EpgSourceChannels", {"epgChannels": EpgChannelSerializer(many=True)}),
        description="The XMLTV channels of the source's guide as its last successful fetch listed them, by id "
                    "(every <channel> element, and every id with programmes but no <channel> element; at most "
                    "EPG_MAX_CHANNELS, so not paginated). Empty until the source is fetched.")
    @action(detail=True, methods=["get"], url_path="channels", url_name="channels")
    def xmltv_channels(self, request, pk=None):
        channels = mapping.xmltv_channels_of(self.get_object())
        return Response({"epgChannels": EpgChannelSerializer(channels, many=True).data})

    @extend_schema(methods=["GET"], request=None, operation_id="getEpgMapping", responses=inline_serializer(
        "EpgMapping", {"mapping": MappingRowSerializer(many=True)}),
        description="Every channel of the portal beside the source: what it reads from the source "
                    "(epgChannelName, \"\" when unmapped) and, for an unmapped channel, the suggested XMLTV channel: "
                    "exact id, else normalised display name, else fuzzy (see the README).")
    @extend_schema(methods=["POST"], request=EpgMappingInput, responses=MappingResultSerializer,
                   operation_id="acceptEpgMapping",
                   description="Map channels to the source's XMLTV channels, all in one transaction, each recorded "
                               "as updateChannel. A channelId of another portal is a 404 and nothing is changed.")
    @action(detail=True, methods=["get", "post"], url_path="mapping", url_name="mapping")
    def mapping(self, request, pk=None):
        source = self.get_object()
        if request.method == "GET":
            return Response({"mapping": MappingRowSerializer(mapping.mapping_rows(source), many=True).data})
        changed = mapping.apply_mapping(source, caller=self.caller, data=json_object(request))
        return Response(MappingResultSerializer({"mapped": [
            {"channel_id": channel.pk, "epg_channel_name": name} for channel, name in changed]}).data)


@extend_schema_view(list=extend_schema(operation_id="listEpgPrograms"))
class EpgProgramViewSet(mixins.ListModelMixin, PortalViewSet):
    """``GET /epg-sources/{id}/programs``: a source's programmes by start time."""

    queryset = Program.objects.all()
    serializer_class = ProgramSerializer
    filterset_class = ProgramFilter
    list_key = "programs"
    ordering = ("start", "id")

    def get_queryset(self):
        source = portal_object(EpgSource, self.caller.portal, decode_path_id(self.kwargs["source_pk"]))
        return Program.objects.filter(epg_source=source)


@extend_schema_view(list=extend_schema(operation_id="listEpgFetches"),
                    retrieve=extend_schema(operation_id="getEpgFetch"))
class EpgFetchViewSet(ListRetrieveMixin, PortalViewSet):
    """The portal's EPG fetch history, newest first."""

    queryset = EpgFetch.objects.all()
    serializer_class = EpgFetchSerializer
    filterset_class = EpgFetchFilter
    list_key = "epgFetches"
    ordering = ("-id",)

    def get_queryset(self):
        return epg_selectors.fetches_for(self.caller.portal)
