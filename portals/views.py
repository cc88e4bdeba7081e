"""Screens of portals and managers: login and portal chooser, portal settings and API key, managers.

Every change goes through ``portals.services``; a refusal is shown as the service phrased it.
"""

from __future__ import annotations

from functools import cached_property

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView, TemplateView

from catena_site.errors import Invalid, RateLimited, ServiceError
from catena_site.http import client_ip
from catena_site.lists import Column, PortalListView
from catena_site.web import (
    FlagRequiredMixin,
    PortalMixin,
    forbidden,
    form_refused,
    service_error_page,
    show_service_errors,
)

from . import services
from .auth import end_session
from .filters import ManagerFilter
from .forms import LoginForm, ManagerForm, PortalSettingsForm
from .models import Manager
from .permissions import PERMISSIONS, requires_sentence
from .totp import SecondFactorRequired
from .web_auth import SESSION_KEY, log_in

# Session tokens of a login that matched several portals, until the manager picks one.
PENDING_LOGIN_KEY = "catena_pending_login"
# The email and signed "password OK" state of a login waiting for its two-factor code.
SECOND_STEP_KEY = "catena_login_second_step"


# --- Login and logout -------------------------------------------------------------------------------------


def _next_url(request, candidate: str | None) -> str:
    """``candidate`` if it is a path of this site, else the dashboard (no open redirects)."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("monitoring:dashboard")


def _end_web_login(request) -> None:
    """End the manager session behind this browser, and any sessions still waiting in the portal chooser."""
    token = request.session.get(SESSION_KEY)
    if token:
        end_session(token)
    request.session.pop(SECOND_STEP_KEY, None)
    pending = request.session.pop(PENDING_LOGIN_KEY, None) or {}
    for entry in pending.get("portals", []):
        end_session(entry["token"])


class LoginView(View):
    """Email and password → ``services.login``; one portal logs in, several go to the portal chooser."""

    template_name = "portals/login.html"

    def get(self, request):
        if request.caller is not None:
            return redirect(_next_url(request, request.GET.get("next")))
        return self.show(request, LoginForm(), request.GET.get("next", ""))

    def post(self, request):
        form = LoginForm(request.POST)
        next_url = request.POST.get("next") or request.GET.get("next") or ""
        if not form.is_valid():
            return self.show(request, form, next_url, status=400)
        try:
            matches = services.login(
                form.cleaned_data["email"],
                form.cleaned_data["password"],
                web=True,
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except Invalid as exc:
            show_service_errors(form, exc, form.SERVICE_FIELDS)
            return self.show(request, form, next_url, status=400)
        except RateLimited as exc:
            form.add_error(None, _("Too many failed login attempts. Please try again later."))
            response = self.show(request, form, next_url, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except SecondFactorRequired as exc:
            # The password was right: ask for the code on the next page, without the password again.
            request.session[SECOND_STEP_KEY] = {"email": form.cleaned_data["email"].strip().lower(),
                                                "passwordOk": exc.password_ok, "next": next_url}
            return redirect("web:login-code")
        if not matches:
            # One message whatever was wrong, so the page never tells which emails exist.
            form.add_error(None, services.GENERIC_LOGIN_FAILURE)
            return self.show(request, form, next_url, status=401)
        return finish_login(request, matches, next_url)

    def show(self, request, form, next_url: str, status: int = 200):
        return render(request, self.template_name, {"form": form, "next": next_url}, status=status)


def finish_login(request, matches, next_url: str):
    """Log the browser in to the one matching portal, or send it to the portal chooser."""
    _end_web_login(request)
    if len(matches) == 1:
        log_in(request, matches[0][1])
        return redirect(_next_url(request, next_url))
    request.session[PENDING_LOGIN_KEY] = {
        "next": next_url,
        "portals": [
            {"portalId": manager.portal.public_id, "title": manager.portal.display_title,
             "domain": manager.portal.domain, "token": token}
            for manager, token in matches
        ],
    }
    return redirect("web:choose-portal")


class ChoosePortalView(View):
    """After a login that matched several portals: pick one; the sessions of the others are ended."""

    template_name = "portals/choose_portal.html"

    def get(self, request):
        pending = request.session.get(PENDING_LOGIN_KEY)
        if not pending:
            return redirect("web:login")
        return render(request, self.template_name, {"portals": pending["portals"]})

    def post(self, request):
        pending = request.session.get(PENDING_LOGIN_KEY)
        if not pending:
            return redirect("web:login")
        chosen = next((p for p in pending["portals"] if p["portalId"] == request.POST.get("portal")), None)
        if chosen is None:
            return render(request, self.template_name,
                          {"portals": pending["portals"], "error": "Choose one of the portals below."}, status=400)
        del request.session[PENDING_LOGIN_KEY]
        for entry in pending["portals"]:
            if entry is not chosen:
                end_session(entry["token"])
        log_in(request, chosen["token"])
        return redirect(_next_url(request, pending.get("next")))


class LogoutView(View):
    """POST only: ends the manager session and the browser's Django session."""

    http_method_names = ["post"]

    def post(self, request):
        _end_web_login(request)
        request.session.flush()
        messages.info(request, _("You have been logged out."))
        return redirect("web:login")


# --- Portal -----------------------------------------------------------------------------------------------


class PortalLogoView(PortalMixin, View):
    """The portal's stored logo bytes for the header, or a redirect to its https logo URL."""

    def get(self, request):
        portal = self.portal
        if portal.logo_image:
            response = HttpResponse(bytes(portal.logo_image), content_type=portal.logo_content_type)
            response["Cache-Control"] = "private, max-age=3600"  # the header links it with ?v=<updated_at>
            response["X-Content-Type-Options"] = "nosniff"
            return response
        if portal.logo_url:
            return redirect(portal.logo_url)
        raise Http404


class PortalSettingsView(PortalMixin, TemplateView):
    """Branding, settings and the API key. Everyone reads; only ``can_manage`` saves."""

    template_name = "portals/portal_settings.html"
    section = "settings"

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = form or PortalSettingsForm(portal=self.portal, read_only=not self.caller.can_manage,
                                                        owner=self.caller.is_owner)
        context["portal"] = self.portal
        # The free packages block is content's: the template draws it with ``{% portal_free_packages %}``.
        return context

    def post(self, request):
        if not self.caller.can_manage:
            return forbidden(request, requires_sentence("isAdmin", "Changing portal settings"))
        form = PortalSettingsForm(request.POST, request.FILES, portal=self.portal, owner=self.caller.is_owner)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            services.update_portal(self.portal, caller=self.caller, data=form.service_data(), screen=True)
        except ServiceError as exc:
            return form_refused(self, form, exc)
        messages.success(request, _("Portal settings saved."))
        return redirect("web:portal-settings")


class ResetApiKeyView(FlagRequiredMixin, TemplateView):
    """Confirmation page, then a new API key; the old key stops working at once."""

    template_name = "portals/reset_api_key.html"
    section = "settings"

    def post(self, request):
        try:
            services.reset_api_key(self.portal, caller=self.caller)
        except ServiceError as exc:
            return service_error_page(request, exc)
        messages.success(request, _("A new API key was generated. The previous key no longer works."))
        return redirect("web:portal-settings")


# --- Managers ---------------------------------------------------------------------------------------------


def _permission_names(manager) -> str:
    """The flags ``manager`` holds, as the API names them (the CSV export)."""
    return " ".join(flag for flag, permission in PERMISSIONS.items() if getattr(manager, permission.field))


class ManagerListView(PortalListView):
    """The portal's managers, oldest first, with ``?search=`` (the API's ManagerFilter)."""

    template_name = "portals/manager_list.html"
    section = "managers"
    filterset_class = ManagerFilter
    filter_names = ("search",)
    filter_labels = {"search": _("Search")}
    columns = [
        Column(_("Email"), sort="email", csv=lambda row: row.email),
        Column(_("Name"), sort="name", csv=lambda row: row.name),
        Column(_("Permissions"), csv=_permission_names),
        Column(_("Last login"), csv=lambda row: row.last_login_at.isoformat() if row.last_login_at else ""),
        Column(""),
    ]
    default_sort = "id"
    row_template = "portals/_manager_row.html"
    csv_filename = "managers.csv"

    def get_queryset(self):
        return Manager.objects.for_portal(self.portal)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "search": self.request.GET.get("search", "")}


class ManagerFormMixin(FlagRequiredMixin):
    """Create and edit: show a service refusal on the form, with the API's status code."""

    template_name = "portals/manager_form.html"
    section = "managers"
    form_class = ManagerForm
    http_method_names = ["get", "post", "head", "options"]  # not FormView's PUT, which would post the form

    def save(self, form) -> Manager:
        raise NotImplementedError

    def form_valid(self, form):
        try:
            manager = self.save(form)
        except ServiceError as exc:
            return form_refused(self, form, exc)
        messages.success(self.request, _("Manager %(email)s saved.") % {"email": manager.email})
        return redirect("web:manager-list")

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ManagerCreateView(ManagerFormMixin, FormView):
    def save(self, form) -> Manager:
        return services.create_manager(self.portal, caller=self.caller, data=form.service_data())


class ManagerEditView(ManagerFormMixin, FormView):
    @cached_property
    def manager(self) -> Manager:
        return self.get_portal_object(Manager.objects.select_related("portal"), self.kwargs["manager_id"])

    def get_form_kwargs(self):
        return {
            **super().get_form_kwargs(),
            "manager": self.manager,
            "editing_self": self.manager.id == self.caller.manager.id,
            "read_only": self.manager.id == self.portal.owner_id,
        }

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "manager": self.manager,
                "is_owner": self.manager.id == self.portal.owner_id}

    def save(self, form) -> Manager:
        return services.update_manager(self.manager, caller=self.caller, data=form.service_data())


class ManagerDeleteView(FlagRequiredMixin, TemplateView):
    """Confirmation page, then ``services.delete_manager``; a refusal is shown on the same page."""

    template_name = "portals/manager_delete.html"
    section = "managers"

    @cached_property
    def manager(self) -> Manager:
        return self.get_portal_object(Manager.objects.select_related("portal"), self.kwargs["manager_id"])

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "manager": self.manager}

    def post(self, request, manager_id):
        manager = self.manager
        try:
            services.delete_manager(manager, caller=self.caller)
        except ServiceError as exc:
            return self.render_to_response(self.get_context_data(error=exc.message), status=exc.status)
        messages.success(request, _("Manager %(email)s deleted.") % {"email": manager.email})
        return redirect("web:manager-list")
