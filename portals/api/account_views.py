"""Management API: My account (``/me``) — the calling manager's own account, password and two-factor
authentication. The API key has no account: every ``/me`` call with it answers 403."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from catena_site.api.views import json_object
from portals import account
from portals.account_inputs import PasswordChangeShape, TotpCodeShape

from .serializers import ManagerSerializer


class IsManagerSession(BasePermission):
    """A manager's session (``sessionId``), not the portal's API key."""

    message = account.NO_ACCOUNT

    def has_permission(self, request, view) -> bool:
        return getattr(request.auth, "portal", None) is not None and request.auth.manager is not None


class MeSerializer(ManagerSerializer):
    """The manager as ``GET /managers/{id}`` shows it, plus ``totpEnabled``."""

    totpEnabled = serializers.SerializerMethodField()

    class Meta(ManagerSerializer.Meta):
        fields = [*ManagerSerializer.Meta.fields, "totpEnabled"]

    def get_totpEnabled(self, manager) -> bool:
        return account.totp_enabled(manager)


class TotpStartSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="Base32 secret, for typing into an authenticator app by hand.")
    otpauthUrl = serializers.CharField(help_text="otpauth://totp/… URI (what the enrolment QR code holds).")


class RecoveryCodesSerializer(serializers.Serializer):
    recoveryCodes = serializers.ListField(child=serializers.CharField(), help_text="Ten single-use codes, shown once.")


FORBIDDEN = OpenApiResponse(description="The API key has no account: use a manager's sessionId.")
CONFLICT = OpenApiResponse(description="Two-factor authentication is in the wrong state for this call.")
TOO_MANY = OpenApiResponse(description="Too many wrong passwords or codes; `Retry-After` says when to retry.")


class _AccountView(APIView):
    permission_classes = [IsManagerSession]


class MeView(_AccountView):
    """``GET /me``: the calling manager."""

    @extend_schema(responses={200: MeSerializer, 403: FORBIDDEN}, operation_id="getMe")
    def get(self, request):
        return Response(MeSerializer(account.own_manager(request.auth)).data)


class MePasswordView(_AccountView):
    """``POST /me/password``: change the caller's own password; their other sessions end, this one stays."""

    @extend_schema(request=PasswordChangeShape, responses={200: MeSerializer, 403: FORBIDDEN, 429: TOO_MANY},
                   operation_id="changeMyPassword")
    def post(self, request):
        manager = account.change_password(request.auth, json_object(request))
        return Response(MeSerializer(manager).data)


class TotpOffSerializer(serializers.Serializer):
    deleted = serializers.CharField(help_text='"totp": two-factor authentication is off.')


class MeTotpView(_AccountView):
    """``POST /me/totp`` starts an enrolment; ``DELETE /me/totp {code}`` turns two-factor authentication off."""

    delete_has_body = True  # the OpenAPI document shows the DELETE's body (catena_site.api.schema)

    @extend_schema(request=None, responses={200: TotpStartSerializer, 403: FORBIDDEN, 409: CONFLICT},
                   operation_id="startTotpEnrolment")
    def post(self, request):
        secret, url = account.start_totp(request.auth)
        return Response({"secret": secret, "otpauthUrl": url})

    @extend_schema(request=TotpCodeShape, responses={201: TotpOffSerializer, 403: FORBIDDEN, 409: CONFLICT,
                                                     429: TOO_MANY}, operation_id="disableTotp")
    def delete(self, request):
        """Every DELETE answers 201 with a short JSON body (``management-api.md`` §1)."""
        account.disable_totp(request.auth, json_object(request))
        return Response({"deleted": "totp"}, status=status.HTTP_201_CREATED)


class MeTotpConfirmView(_AccountView):
    """``POST /me/totp/confirm {code}``: turn two-factor authentication on; answers the ten recovery codes."""

    @extend_schema(request=TotpCodeShape, responses={200: RecoveryCodesSerializer, 403: FORBIDDEN, 409: CONFLICT,
                                                     429: TOO_MANY}, operation_id="confirmTotp")
    def post(self, request):
        codes = account.confirm_totp(request.auth, json_object(request))
        return Response({"recoveryCodes": codes})
