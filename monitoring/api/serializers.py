from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.ids import encode_id
from monitoring.operations import Operation


class ActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["apiKey", "manager", "system", "subscriber"])
    managerId = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)


class OperationSerializer(serializers.ModelSerializer):
    operationId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    subscriberId = IdField(source="subscriber_id", read_only=True, allow_null=True)
    packageId = IdField(source="package_id", read_only=True, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    actor = serializers.SerializerMethodField()

    class Meta:
        model = Operation
        fields = ["operationId", "type", "portalId", "subscriberId", "packageId", "createdAt", "updatedAt",
                  "payload", "actor"]

    def get_actor(self, operation) -> ActorSerializer:
        return operation.actor.as_json()


def _unix(value) -> int | None:
    return int(value.timestamp()) if value is not None else None


class PlaySessionSerializer(serializers.Serializer):
    """A play session as the manual documents it (times in Unix seconds), plus ``streamerSessionId`` (beyond).

    ``token`` is null for callers who may not see playback tokens. Serialized by hand: lists of 100–1000
    sessions are common and ModelSerializer's per-field machinery would dominate the response time.
    """

    sessionId = IdField(read_only=True)
    subscriberId = IdField(read_only=True, allow_null=True, help_text="null for an anonymous viewer")
    channelId = IdField(read_only=True)
    channelName = serializers.CharField(read_only=True)
    programId = IdField(read_only=True, allow_null=True,
                        help_text="The programme watched from the archive (at the archive position); null for live")
    portalId = IdField(read_only=True)
    openedAt = serializers.IntegerField(read_only=True, help_text="Unix seconds")
    closedAt = serializers.IntegerField(read_only=True, allow_null=True, help_text="Unix seconds")
    updatedAt = serializers.IntegerField(read_only=True, help_text="Unix seconds")
    active = serializers.BooleanField(read_only=True)
    bytes = serializers.IntegerField(read_only=True)
    ip = serializers.CharField(read_only=True, allow_null=True)
    userAgent = serializers.CharField(read_only=True, allow_null=True)
    token = serializers.CharField(read_only=True, allow_null=True)
    deviceId = serializers.CharField(read_only=True, allow_null=True)
    streamerSessionId = serializers.CharField(read_only=True, help_text="The streaming server's session UUID")

    def to_representation(self, session) -> dict:
        caller = self.context.get("caller")
        return {
            "sessionId": encode_id(session.id),
            "subscriberId": encode_id(session.subscriber_id) if session.subscriber_id is not None else None,
            "channelId": encode_id(session.channel_id),
            "channelName": session.channel_name,
            "programId": encode_id(session.program_id) if session.program_id else None,
            "portalId": encode_id(session.portal_id),
            "openedAt": _unix(session.opened_at),
            "closedAt": _unix(session.closed_at),
            "updatedAt": _unix(session.updated_at),
            "active": session.active,
            "bytes": session.bytes,
            "ip": session.ip or None,
            "userAgent": session.user_agent or None,
            "token": (session.token or None) if caller is not None and caller.can_see_playback_tokens else None,
            "deviceId": session.device_id or None,
            "streamerSessionId": session.streamer_session_id,
        }
