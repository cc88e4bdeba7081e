from datetime import UTC

from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.api.pagination import as_datetime, unix_seconds
from catena_site.ids import encode_id
from monitoring.operations import Actor, Operation


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

    # The declared fields document the object; ``operation_body`` writes it, key for key (a list page from plain
    # values, without model instances or the per-field machinery).

    def get_actor(self, operation) -> ActorSerializer:
        return operation.actor.as_json()

    def to_representation(self, operation) -> dict:
        return operation_body(operation_values(operation))


# The columns of an operation a page reads (``values_list``), in this order: the list order's (the ID) first.
OPERATION_COLUMNS = ("id", "type", "portal_id", "subscriber_id", "package_id", "created", "updated", "payload",
                     "actor_type", "actor_manager_id", "actor_email")
OPERATION_TIMES = {"created": "created_at", "updated": "updated_at"}  # read as TimeValue


def operation_values(operation) -> tuple:
    return tuple(getattr(operation, OPERATION_TIMES.get(column, column)) for column in OPERATION_COLUMNS)


def _utc(value) -> str | None:
    """A time as ``DATETIME_FORMAT`` writes it (ISO 8601 in UTC with ``Z``, whole seconds)."""
    value = as_datetime(value)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def operation_body(row: tuple) -> dict:
    """An operation from its ``OPERATION_COLUMNS`` values, as ``OperationSerializer`` documents it."""
    (operation_id, kind, portal_id, subscriber_id, package_id, created, updated, payload, actor_type,
     actor_manager_id, actor_email) = row
    return {
        "operationId": encode_id(operation_id),
        "type": str(kind),  # a str, or an OperationType of an operation just recorded
        "portalId": encode_id(portal_id),
        "subscriberId": encode_id(subscriber_id) if subscriber_id is not None else None,
        "packageId": encode_id(package_id) if package_id is not None else None,
        "createdAt": _utc(created),
        "updatedAt": _utc(updated),
        "payload": payload,
        "actor": Actor(actor_type, actor_manager_id, actor_email).as_json(),
    }


# The columns of a play session a page reads (``values_list``), in this order: the list order's two first.
SESSION_COLUMNS = ("opened", "id", "subscriber_id", "channel_id", "channel_name", "program_id", "portal_id", "closed",
                   "updated", "active", "bytes", "ip", "user_agent", "token", "device_id", "streamer_session_id")
SESSION_TIMES = {"opened": "opened_at", "closed": "closed_at", "updated": "updated_at"}  # read as TimeValue


def session_values(session) -> tuple:
    """A play session (a model instance) as the row :func:`session_body` writes."""
    return tuple(getattr(session, SESSION_TIMES.get(column, column)) for column in SESSION_COLUMNS)


def session_body(row: tuple, show_token: bool, beat: tuple | None = None) -> dict:
    """A play session from its ``SESSION_COLUMNS`` values, with its newest cached heartbeat (``(updated_at,
    bytes, duration)`` or None) laid over ``updatedAt`` and ``bytes``. Times in Unix seconds."""
    (opened, session_id, subscriber_id, channel_id, channel_name, program_id, portal_id, closed, updated, active,
     size, ip, user_agent, token, device_id, streamer_session_id) = row
    updated = unix_seconds(updated)
    if beat is not None:
        updated = max(updated, int(beat[0].timestamp()))
        size = max(size, beat[1])
    return {
        "sessionId": encode_id(session_id),
        "subscriberId": encode_id(subscriber_id) if subscriber_id is not None else None,
        "channelId": encode_id(channel_id),
        "channelName": channel_name,
        "programId": encode_id(program_id) if program_id else None,
        "portalId": encode_id(portal_id),
        "openedAt": unix_seconds(opened),
        "closedAt": unix_seconds(closed),
        "updatedAt": updated,
        "active": active,
        "bytes": size,
        "ip": ip or None,
        "userAgent": user_agent or None,
        "token": (token or None) if show_token else None,
        "deviceId": device_id or None,
        "streamerSessionId": streamer_session_id,
    }


class PlaySessionSerializer(serializers.Serializer):
    """A play session as the manual documents it (times in Unix seconds), plus ``streamerSessionId`` (beyond).

    ``token`` is null for callers who may not see playback tokens. Serialized by hand: lists of 100–1000
    sessions are common and ModelSerializer's per-field machinery would dominate the response time; a list page
    writes its rows with :func:`session_body` from plain values (no model instances).
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
        show_token = caller is not None and caller.can_see_playback_tokens
        return session_body(session_values(session), show_token)
