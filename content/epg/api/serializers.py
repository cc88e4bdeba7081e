"""JSON shapes of EPG sources, fetches and programmes, field for field as the Management API documents them."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.ids import encode_id
from content.models import EpgFetch, EpgSource, FetchStatus

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class FetchResultSerializer(serializers.ModelSerializer):
    """A finished fetch as ``last_fetch_result`` shows it (a fetch record without its ID and creation)."""

    epgSourceId = IdField(source="epg_source_id", read_only=True)
    status = serializers.ChoiceField(choices=FetchStatus.choices)
    foundPrograms = serializers.IntegerField(source="found_programs")
    importedPrograms = serializers.IntegerField(source="imported_programs")
    deletedPrograms = serializers.IntegerField(source="deleted_programs")
    fetchDuration = serializers.FloatField(source="fetch_duration", allow_null=True)
    importDuration = serializers.FloatField(source="import_duration", allow_null=True)

    class Meta:
        model = EpgFetch
        fields = ["epgSourceId", "fetched_at", "job_id", "status", "message", "channels", "foundPrograms",
                  "importedPrograms", "deletedPrograms", "fetchDuration", "importDuration"]


class EpgFetchSerializer(FetchResultSerializer):
    """A fetch record of ``GET /epg-fetches``; ``status`` is also ``queued`` or ``running`` while in progress."""

    epgFetchId = IdField(source="id", read_only=True)

    class Meta(FetchResultSerializer.Meta):
        fields = ["epgFetchId", "epgSourceId", "created_at", *FetchResultSerializer.Meta.fields[1:]]


class EpgSourceSerializer(serializers.ModelSerializer):
    epgSourceId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    offsetMinutes = serializers.IntegerField(source="offset_minutes")
    forceOffset = serializers.BooleanField(source="force_offset")
    last_fetch_result = FetchResultSerializer(source="last_fetch", read_only=True, allow_null=True)

    class Meta:
        model = EpgSource
        fields = ["epgSourceId", "portalId", "name", "url", "period", "offsetMinutes", "forceOffset",
                  "last_fetch_result"]


class JobSerializer(serializers.Serializer):
    jobId = serializers.CharField(help_text="The job_id of the fetch record (queued or already running).")


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime(TIME_FORMAT)


class ProgramSerializer(serializers.Serializer):
    """A programme. Pages hold up to 1,000 of them, so rows are written out directly, not field by field."""

    programId = IdField()
    portalId = IdField()
    epgSourceId = IdField()
    epgChannelName = serializers.CharField()
    date = serializers.DateField(help_text="UTC day of start")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    title = serializers.CharField()
    language = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    genre = serializers.CharField(allow_null=True)
    rating = serializers.CharField(allow_null=True)
    subtitle = serializers.CharField(allow_null=True)
    icon = serializers.CharField(allow_null=True)
    episode = serializers.CharField(allow_null=True)

    def to_representation(self, program) -> dict:
        start = program.start.astimezone(dt.UTC)
        return {
            "programId": encode_id(program.id),
            "portalId": encode_id(program.portal_id),
            "epgSourceId": encode_id(program.epg_source_id),
            "epgChannelName": program.epg_channel_name,
            "date": start.date().isoformat(),
            "start": start.strftime(TIME_FORMAT),
            "end": _time(program.end),
            "title": program.title,
            "language": program.language or None,
            "description": program.description or None,
            "genre": program.genre or None,
            "rating": program.rating or None,
            "subtitle": program.subtitle or None,
            "icon": program.icon or None,
            "episode": program.episode or None,
        }


class DisplayNameSerializer(serializers.Serializer):
    name = serializers.CharField()
    lang = serializers.CharField(help_text='The name\'s language as the guide gives it ("" when none).')


class EpgChannelSerializer(serializers.Serializer):
    """One XMLTV channel of a source's guide, as its last successful import listed it."""

    id = serializers.CharField(source="xmltv_id", help_text="The <channel id> (a channel's epgChannelName).")
    displayNames = serializers.SerializerMethodField(help_text="All display names, in the guide's order.")
    icon = serializers.CharField(help_text='The icon URL ("" when none).')
    programCount = serializers.IntegerField(source="program_count", help_text="Programmes of this id kept from "
                                                                              "the guide.")
    listed = serializers.BooleanField(help_text="false: the guide has programmes for this id but no <channel> "
                                                "element.")

    @extend_schema_field(DisplayNameSerializer(many=True))
    def get_displayNames(self, obj) -> list[dict]:  # noqa: N802  (the API's field name)
        return [{"name": name, "lang": lang} for name, lang in obj.display_names]


class SuggestionSerializer(serializers.Serializer):
    epgChannelName = serializers.CharField(source="epg_channel_name")
    method = serializers.ChoiceField(choices=["id", "name", "fuzzy"],
                                     help_text="id: exact id; name: normalised display name; fuzzy: similar name.")
    score = serializers.IntegerField(help_text="100 for id and name; 85–99 for fuzzy.")


class MappingRowSerializer(serializers.Serializer):
    """A channel of the portal beside the source: its mapping to the source and, when unmapped, a suggestion.

    Written by hand: the answer lists every channel of the portal (a thousand is common), and the per-field
    machinery of a serializer took more than half of the response time once the suggestions were cached."""

    channelId = IdField(source="channel.id", read_only=True)
    name = serializers.CharField(source="channel.name")
    title = serializers.CharField(source="channel.title")
    epgChannelName = serializers.CharField(source="mapped_to", help_text='What the channel reads from this source '
                                                                         '("" when unmapped).')
    inGuide = serializers.BooleanField(source="known", help_text="Whether epgChannelName is among the source's "
                                                                 "XMLTV channels.")
    suggestion = SuggestionSerializer(allow_null=True)

    def to_representation(self, row) -> dict:
        suggestion = row.suggestion
        return {
            "channelId": encode_id(row.channel.id),
            "name": row.channel.name,
            "title": row.channel.title,
            "epgChannelName": row.mapped_to,
            "inGuide": row.known,
            "suggestion": None if suggestion is None else {
                "epgChannelName": suggestion.epg_channel_name, "method": suggestion.method, "score": suggestion.score},
        }


class MappedSerializer(serializers.Serializer):
    """A channel the accept changed, and what it reads from the source now."""

    channelId = IdField(source="channel_id", read_only=True)
    epgChannelName = serializers.CharField(source="epg_channel_name")


class MappingResultSerializer(serializers.Serializer):
    mapped = MappedSerializer(many=True, help_text="The channels changed (already mapped alike: left out).")
