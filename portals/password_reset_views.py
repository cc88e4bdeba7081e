"""Screens of the password reset by email ("Forgot your password?" on the login page).

Asking (``/password-reset/``) → the same "check your email" page whatever the email → the link in the email
(``/password-reset/<managerId>/<token>/``), which keeps the token in the browser's session and moves on to
``/password-reset/<managerId>/set-password/`` (as Django's own reset view does, so the token does not stay in
the address bar or reach another site in a ``Referer``) → the new password → the login page. Every rule is
``portals.password_reset``'s; the forms only read the submitted values.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views import View

from catena_site.errors import Invalid, RateLimited
from catena_site.http import client_ip
from catena_site.web import show_service_errors

from . import password_reset

# Reset tokens of the links opened in this browser, by manager ID, until the new password is set.
SESSION_TOKENS_KEY = "catena_password_reset"


class ResetRequestForm(forms.Form):
    email = forms.CharField(label=_("Email"), required=False, widget=forms.EmailInput(attrs={"autocomplete": "username",
                                                                          "autofocus": True}))

    SERVICE_FIELDS = {"email": "email"}


class NewPasswordForm(forms.Form):
    new_password = forms.CharField(required=False, strip=False, label=_("New password"),
                                   widget=forms.PasswordInput(attrs={"autocomplete": "new-password",
                                                                     "autofocus": True}))
    new_password_again = forms.CharField(required=False, strip=False, label=_("New password again"),
                                         widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    SERVICE_FIELDS = {"newPassword": "new_password", "newPasswordAgain": "new_password_again"}


def site_url(request) -> str:
    """The address the links in emails start with: ``SITE_URL``, else this request's scheme and host."""
    return settings.SITE_URL or f"{request.scheme}://{request.get_host()}"


def link_not_valid(request):
    """The page of a used, expired or forged link (410), with the way to ask for a new one."""
    return render(request, "portals/reset/link_not_valid.html", {"message": password_reset.LinkNotValid().message},
                  status=password_reset.LinkNotValid.status)


class ResetRequestView(View):
    """The email to send reset links to; answered with the same page whether it has accounts or not."""

    template_name = "portals/reset/request.html"

    def get(self, request):
        return render(request, self.template_name, {"form": ResetRequestForm()})

    def post(self, request):
        form = ResetRequestForm(request.POST)
        form.is_valid()  # reads the values only; the rules are the service's
        try:
            password_reset.request_reset({"email": form.cleaned_data.get("email", "")}, ip=client_ip(request),
                                         site_url=site_url(request))
        except RateLimited as exc:
            form.add_error(None, exc.message)
            response = render(request, self.template_name, {"form": form}, status=exc.status)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except Invalid as exc:
            show_service_errors(form, exc, form.SERVICE_FIELDS)
            return render(request, self.template_name, {"form": form}, status=exc.status)
        return redirect("web:password-reset-sent")


class ResetSentView(View):
    """"Check your email": the answer to every accepted request."""

    def get(self, request):
        return render(request, "portals/reset/sent.html", {"minutes": settings.PASSWORD_RESET_TIMEOUT // 60})


class ResetLinkView(View):
    """The link from the email: a valid one is kept in the session and leads to the new-password form."""

    def get(self, request, manager_id: str, token: str):
        if password_reset.manager_for_link(manager_id, token) is None:
            return link_not_valid(request)
        request.session[SESSION_TOKENS_KEY] = {**request.session.get(SESSION_TOKENS_KEY, {}), manager_id: token}
        return redirect("web:password-reset-set", manager_id=manager_id)


class SetPasswordView(View):
    """The new password for the account of a link opened in this browser."""

    template_name = "portals/reset/set_password.html"

    def get(self, request, manager_id: str):
        manager = password_reset.manager_for_link(manager_id, self._token(request, manager_id))
        if manager is None:
            return link_not_valid(request)
        return self.show(request, NewPasswordForm(), manager)

    def post(self, request, manager_id: str):
        token = self._token(request, manager_id)
        form = NewPasswordForm(request.POST)
        form.is_valid()  # reads the values only
        try:
            password_reset.reset_password(manager_id, token, {"newPassword": form.cleaned_data.get("new_password", ""),
                                                              "newPasswordAgain": form.cleaned_data.get(
                                                                  "new_password_again", "")})
        except password_reset.LinkNotValid:
            return link_not_valid(request)
        except Invalid as exc:
            show_service_errors(form, exc, form.SERVICE_FIELDS)
            return self.show(request, form, password_reset.manager_for_link(manager_id, token), status=exc.status)
        tokens = request.session.get(SESSION_TOKENS_KEY, {})
        tokens.pop(manager_id, None)
        request.session[SESSION_TOKENS_KEY] = tokens
        messages.success(request, _("Your password has been changed, and every session of this account was ended. "
                                  "Log in with the new password."))
        return redirect("web:login")

    @staticmethod
    def _token(request, manager_id: str) -> str:
        return request.session.get(SESSION_TOKENS_KEY, {}).get(manager_id, "")

    def show(self, request, form, manager, status: int = 200):
        return render(request, self.template_name, {"form": form, "manager": manager}, status=status)
