"""Management API: portal, managers, login and logout."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from catena_site.api.errors import error_body
from catena_site.api.permissions import CanManage
from catena_site.api.views import ListRetrieveMixin, PortalViewSet, json_object
from catena_site.http import client_ip
from portals import services
from portals.auth import end_session
from portals.filters import ManagerFilter
from portals.inputs import LoginInput, ManagerInput, ManagerUpdateInput, PortalUpdateInput
from portals.models import Manager
from portals.totp import SecondFactorRequired

from .serializers import LoginResponseSerializer, ManagerSerializer, PortalSerializer


class _PortalAnswerMixin:
    permission_classes = [CanManage]

    @staticmethod
    def serialize(request, portal) -> dict:
        return PortalSerializer(portal, context={"caller": request.auth}).data

    def _answer(self, request, portal):
        return Response(self.serialize(request, portal))


class PortalView(_PortalAnswerMixin, APIView):
    """The caller's portal."""

    @extend_schema(responses=PortalSerializer, operation_id="getPortal")
    def get(self, request):
        return self._answer(request, request.auth.portal)

    @extend_schema(request=PortalUpdateInput, responses=PortalSerializer, operation_id="updatePortal")
    def put(self, request):
        portal = services.update_portal(request.auth.portal, caller=request.auth, data=json_object(request))
        return self._answer(request, portal)


class ResetApiKeyView(_PortalAnswerMixin, APIView):
    """A new API key; the old one is refused at once."""

    @extend_schema(request=None, responses=PortalSerializer, operation_id="resetApiKey")
    def post(self, request):
        portal = services.reset_api_key(request.auth.portal, caller=request.auth)
        return self._answer(request, portal)


class ManagerViewSet(ListRetrieveMixin, PortalViewSet):
    """Managers of the caller's portal. Everyone reads; ``isAdmin`` writes."""

    queryset = Manager.objects.all()
    serializer_class = ManagerSerializer
    filterset_class = ManagerFilter
    permission_classes = [CanManage]
    list_key = "managers"

    @extend_schema(request=ManagerInput, responses={201: ManagerSerializer})
    def create(self, request):
        manager = services.create_manager(request.auth.portal, caller=request.auth, data=json_object(request))
        return Response(ManagerSerializer(manager).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ManagerUpdateInput, responses=ManagerSerializer)
    def update(self, request, pk=None):
        manager = services.update_manager(self.get_object(), caller=request.auth, data=json_object(request))
        return Response(ManagerSerializer(manager).data)

    @extend_schema(responses={201: OpenApiResponse(description='{"deleted": "<managerId>"}')})
    def destroy(self, request, pk=None):
        manager = self.get_object()
        services.delete_manager(manager, caller=request.auth)
        return self.deleted(manager.pk)


class LoginView(APIView):
    """``POST /login``: every portal where this email exists with this password, each with a session."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=LoginInput, responses={200: LoginResponseSerializer, 401: None, 429: None},
                   auth=[], operation_id="login")
    def post(self, request):
        body = json_object(request)
        try:
            sessions = services.login(
                body.get("email"),
                body.get("password"),
                totp=body.get("totp"),
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except SecondFactorRequired as exc:
            return Response({"message": exc.message, "totpRequired": True}, status=status.HTTP_401_UNAUTHORIZED,
                            headers={"WWW-Authenticate": "X-Auth-Token"})
        if not sessions:
            return Response(error_body(services.GENERIC_LOGIN_FAILURE), status=status.HTTP_401_UNAUTHORIZED,
                            headers={"WWW-Authenticate": "X-Auth-Token"})
        return Response({"portals": [
            {"portalId": m.portal.public_id, "portalName": m.portal.display_title, "sessionId": token}
            for m, token in sessions
        ]})


class LogoutView(APIView):
    """``POST /logout``: ends the manager session given in ``X-Auth-Token``."""

    @extend_schema(request=None, responses={204: None}, operation_id="logout")
    def post(self, request):
        if request.auth.session is None:
            raise ValidationError({"X-Auth-Token": ["The API key is not a session; reset it to revoke it."]})
        end_session(request.META["HTTP_X_AUTH_TOKEN"].strip())
        return Response(status=status.HTTP_204_NO_CONTENT)
