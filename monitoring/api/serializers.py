from rest_framework import serializers

from catena_site.api.fields import IdField
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
