"""Building blocks of the web screens: login, portal scope, permission flags, service errors, pages.

Every screen view starts from one of the mixins here, so that "who may see this" and "which portal's
objects" are decided in one place, like ``PortalViewSet`` does for the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import render, resolve_url
from rest_framework.exceptions import ValidationError as InvalidCursor

from catena_site.api.pagination import Keyset
from catena_site.errors import ServiceError
from catena_site.ids import InvalidId, decode_id

# The flag a Caller must have, and the permission name the spec and the API messages use for it.
PERMISSION_NAMES = {
    "can_manage": "isAdmin",
    "can_manage_content": "isContentAdmin",
    "can_manage_subscribers": "isSubscriberAdmin",
}
SCREEN_PAGE_SIZE = 50


def forbidden(request, message: str):
    """The 403 page with the reason."""
    return render(request, "403.html", {"message": message}, status=403)


def service_error_page(request, error: ServiceError):
    """A refused change that has no form to show it on: its message, with the API's status code."""
    if error.status == 403:
        return forbidden(request, error.message)
    return render(request, "error.html", {"message": error.message, "status": error.status}, status=error.status)


def show_service_errors(form, error: ServiceError, field_map: dict[str, str]) -> None:
    """Attach a service refusal to a form: each ``error.errors`` key on its field, the rest on the form.

    ``field_map`` translates the service's keys (API names such as ``branding.title``) to form field names.
    """
    attached = False
    for key, reasons in error.errors.items():
        field = field_map.get(key)
        form.add_error(field if field in form.fields else None, list(reasons))
        attached = True
    if not attached:
        form.add_error(None, error.message)


def get_for_portal(queryset_or_model, portal, public_id: str):
    """The object with this public ID in ``portal``; a malformed ID or another portal's object is a 404."""
    try:
        pk = decode_id(public_id)
    except InvalidId:
        raise Http404 from None
    queryset = queryset_or_model.objects.all() if isinstance(queryset_or_model, type) else queryset_or_model
    obj = queryset.for_portal(portal).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


@dataclass
class ScreenPage:
    """One keyset page of a screen list and the links to move on."""

    rows: list
    next_url: str | None
    first_url: str | None


def keyset_page(request, queryset, ordering: tuple[str, ...], limit: int = SCREEN_PAGE_SIZE) -> ScreenPage:
    """A page of ``queryset`` after ``?cursor=``; the links keep every other query parameter."""
    cursor = request.GET.get("cursor") or None
    try:
        rows, next_cursor = Keyset(queryset.model, ordering).page(queryset, cursor, limit)
    except InvalidCursor:
        raise Http404 from None  # a hand-edited page link, like a malformed ID in a path
    params = request.GET.copy()
    params.pop("cursor", None)
    first_url = "?" + params.urlencode() if cursor else None
    next_url = None
    if next_cursor:
        params["cursor"] = next_cursor
        next_url = "?" + params.urlencode()
    return ScreenPage(rows=rows, next_url=next_url, first_url=first_url)


class LoginRequiredMixin:
    """A screen for logged-in managers; anyone else is sent to the login page with ``?next=``."""

    def dispatch(self, request, *args, **kwargs):
        if getattr(request, "caller", None) is None:
            return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))
        return super().dispatch(request, *args, **kwargs)


class PortalMixin(LoginRequiredMixin):
    """A screen of the logged-in manager's portal; every lookup starts from ``self.portal``."""

    @property
    def caller(self):
        return self.request.caller

    @property
    def portal(self):
        return self.request.caller.portal

    def get_portal_object(self, model, public_id: str):
        return get_for_portal(model, self.portal, public_id)


class FlagRequiredMixin(PortalMixin):
    """A screen only for callers with ``required_flag`` (a Caller property); others get the 403 page."""

    required_flag = "can_manage"

    def dispatch(self, request, *args, **kwargs):
        caller = getattr(request, "caller", None)
        if caller is not None and not getattr(caller, self.required_flag):
            permission = PERMISSION_NAMES.get(self.required_flag, self.required_flag)
            return forbidden(request, f"This page requires the {permission} permission.")
        return super().dispatch(request, *args, **kwargs)
