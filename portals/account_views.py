"""Screens of My account (password, sessions, two-factor authentication) and the login's code step.

Every change goes through ``portals.account`` (the login through ``portals.services.login``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from catena_site.errors import RateLimited, ServiceError, Unauthorized
from catena_site.http import client_ip
from catena_site.web import PortalMixin, service_error_page, show_service_errors

from . import account, services, totp
from .account_forms import CodeForm, PasswordChangeForm
from .views import SECOND_STEP_KEY, _next_url, finish_login

ROLE_NAMES = (("is_admin", "Admin"), ("is_content_admin", "Content"), ("is_subscriber_admin", "Subscribers"))


# --- The login's second step ----------------------------------------------------------------------------------


class LoginCodeView(View):
    """After a right password of a manager with 2FA: the code (or a recovery code), without the password again.

    The Django session holds the email and the signed "password OK" state (``portals.totp``), good for five
    minutes; a wrong or reused code counts as a failed login (401), the page stays.
    """

    template_name = "portals/account/login_code.html"

    def get(self, request):
        if not request.session.get(SECOND_STEP_KEY):
            return redirect("web:login")
        return self.show(request, CodeForm())

    def post(self, request):
        pending = request.session.get(SECOND_STEP_KEY)
        if not pending:
            return redirect("web:login")
        form = CodeForm(request.POST)
        form.is_valid()
        try:
            matches = services.login(pending["email"], None, totp=form.cleaned_data.get("code"),
                                     password_ok=pending["passwordOk"], web=True, ip=client_ip(request),
                                     user_agent=request.META.get("HTTP_USER_AGENT", ""))
        except RateLimited as exc:
            form.add_error(None, _("Too many failed login attempts. Please try again later."))
            response = self.show(request, form, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except totp.SecondFactorRequired as exc:
            form.add_error("code", exc.message)
            return self.show(request, form, status=401)
        except Unauthorized as exc:  # the five minutes are over, or the password changed meanwhile
            request.session.pop(SECOND_STEP_KEY, None)
            messages.error(request, exc.message)
            return redirect("web:login")
        request.session.pop(SECOND_STEP_KEY, None)
        if not matches:
            return redirect("web:login")
        return finish_login(request, matches, pending.get("next") or "")

    def show(self, request, form, status: int = 200):
        return render(request, self.template_name, {"form": form}, status=status)


# --- My account -------------------------------------------------------------------------------------------------


class AccountView(PortalMixin, TemplateView):
    """The caller's own account: who they are, their password, their sessions, two-factor authentication."""

    template_name = "portals/account/account.html"
    section = "account"

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        manager = self.caller.manager
        context.update(
            manager=manager,
            roles=[name for field, name in ROLE_NAMES if getattr(manager, field)],
            is_owner=self.caller.is_owner,
            form=form or PasswordChangeForm(),
            sessions=account.sessions(self.caller),
            current_session_id=self.caller.session.pk,
            totp_enabled=account.totp_enabled(manager),
            totp_required=totp.required_by(self.portal),
        )
        return context


class PasswordChangeView(AccountView):
    """``POST``: change the caller's own password; a refusal is shown on the account page."""

    http_method_names = ["post"]

    def post(self, request):
        form = PasswordChangeForm(request.POST)
        form.is_valid()
        try:
            account.change_password(self.caller, form.service_data())
        except ServiceError as exc:
            if exc.status == 403:
                return service_error_page(request, exc)
            show_service_errors(form, exc, form.SERVICE_FIELDS)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status)
        messages.success(request, _("Your password was changed. Your other sessions have ended."))
        return redirect("web:account")


class SessionEndView(PortalMixin, View):
    """``POST``: end one of the caller's sessions (ending this browser's own logs it out)."""

    def post(self, request, session_id: int):
        current = session_id == self.caller.session.pk
        try:
            account.end_session(self.caller, session_id)
        except ServiceError as exc:
            return service_error_page(request, exc)
        if current:
            request.session.flush()
            messages.info(request, _("You have been logged out."))
            return redirect("web:login")
        messages.success(request, _("The session was ended."))
        return redirect("web:account")


class OtherSessionsEndView(PortalMixin, View):
    """``POST``: end every session of the caller but this browser's."""

    def post(self, request):
        ended = account.end_other_sessions(self.caller)
        messages.success(request, ngettext("%(count)d other session ended.", "%(count)d other sessions ended.",
                                           ended) % {"count": ended})
        return redirect("web:account")


class TwoFactorView(PortalMixin, TemplateView):
    """Two-factor authentication: start an enrolment (QR code), confirm it with a code (the recovery codes are
    shown once), or turn it off with a code. Also where a portal that requires 2FA sends those without it."""

    template_name = "portals/account/two_factor.html"
    section = "account"
    ACTIONS = ("start", "confirm", "disable")

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        enabled = account.totp_enabled(self.caller.manager)
        waiting = None if enabled else account.pending_totp(self.caller)
        context.update(enabled=enabled, required=totp.required_by(self.portal), form=form or CodeForm())
        if waiting is not None:
            url = totp.otpauth_url(waiting.secret, self.caller.manager)
            context.update(pending=True, secret=waiting.secret, qr_svg=totp.qr_svg(url))
        return context

    def post(self, request):
        action = request.POST.get("action")
        if action not in self.ACTIONS:
            return redirect("web:account-2fa")
        form = CodeForm(request.POST)
        form.is_valid()
        try:
            return getattr(self, action)(form)
        except ServiceError as exc:
            if exc.status in (400, 429) and exc.errors.keys() <= {"code"}:
                show_service_errors(form, exc, form.SERVICE_FIELDS)
                response = self.render_to_response(self.get_context_data(form=form), status=exc.status)
                if isinstance(exc, RateLimited):
                    response["Retry-After"] = str(exc.retry_after)
                return response
            return service_error_page(request, exc)

    def start(self, form):
        account.start_totp(self.caller)
        return redirect("web:account-2fa")

    def confirm(self, form):
        codes = account.confirm_totp(self.caller, form.service_data())
        # Shown on this answer only (not stored, not in a redirect): the manager writes them down now.
        return render(self.request, "portals/account/recovery_codes.html", {"codes": codes, "view": self})

    def disable(self, form):
        account.disable_totp(self.caller, form.service_data())
        messages.success(self.request, "Two-factor authentication is off.")
        return redirect("web:account")


# --- The header's language switcher ------------------------------------------------------------------------


class LanguageView(View):
    """POST ``language`` (``en``, ``ru``) and ``next``: the screens in that language from now on.

    A logged-in manager's choice is stored on the manager (it follows them to other browsers); every browser,
    the login page's too, keeps it in the language cookie. An unknown language is a 400 and changes nothing.
    """

    http_method_names = ["post"]

    def post(self, request):
        language = request.POST.get("language", "")
        if language not in dict(settings.LANGUAGES):
            choices = ", ".join(code for code, _name in settings.LANGUAGES)
            return HttpResponse(f"language: unknown language {language!r}; use one of {choices}.\n", status=400,
                                content_type="text/plain; charset=utf-8")
        if request.caller is not None and request.caller.manager is not None:
            account.set_language(request.caller, language)
        response = redirect(_next_url(request, request.POST.get("next")))
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite="Lax",
                            secure=settings.SESSION_COOKIE_SECURE, httponly=True)
        return response
