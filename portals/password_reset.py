"""Password reset by email, for managers who forgot their password: Django's reset tokens, for our Manager rows.

What a reset resets: a manager is an account of ONE portal, and one email may have accounts in several
portals, each with a password of its own. Asking for a reset sends one email to that address listing every
portal account it has, each with its own link; a link sets the password of that one account only.

- The links are Django's password-reset tokens (``PasswordResetTokenGenerator``) computed from the account's
  password hash, last login and email: a link works once (the new password changes the hash; so does a login
  in between) and for ``PASSWORD_RESET_TIMEOUT`` seconds (1 h).
- The answer to a request is the same whether the email has accounts or not, and the email is sent by a
  Celery task, so neither the page nor its timing tells which emails exist. Requests are throttled per email
  and per client IP (``PASSWORD_RESET_PER_EMAIL``, ``PASSWORD_RESET_PER_IP`` an hour).
- A reset applies the password policy (``validators.password_problems``), ends every session of that account
  (API ``sessionId`` and web login) and records ``updateManager`` with ``passwordReset: true`` — never the
  password or the link — with the manager as the actor.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from rest_framework import serializers

from catena_site.errors import ServiceError
from catena_site.ids import InvalidId, decode_id
from catena_site.inputs import InputShape, Text
from catena_site.throttle import Counter, Limit, take
from monitoring.operations import Actor, OperationType, record

from .models import Manager, ManagerSession
from .validators import password_problems

REFUSED = "Too many password reset requests. Try again later."
THROTTLE_WINDOW = 3600  # seconds: the limits are per hour

log = logging.getLogger(__name__)


class LinkNotValid(ServiceError):
    """The reset link was used already, has expired, or never was one: 410, and nothing changes."""

    status = 410

    def __init__(self):
        super().__init__("This password reset link has expired or was used already. Ask for a new one.")


class ManagerTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset tokens for a :class:`Manager` (which has ``last_login_at`` where a User has ``last_login``)."""

    key_salt = "catena.portals.password_reset.ManagerTokenGenerator"

    def _make_hash_value(self, manager: Manager, timestamp: int) -> str:
        login = "" if manager.last_login_at is None else manager.last_login_at.replace(microsecond=0, tzinfo=None)
        return f"{manager.pk}{manager.password}{login}{timestamp}{manager.email}"


tokens = ManagerTokenGenerator()


# --- Inputs -------------------------------------------------------------------------------------------------


class ResetRequestInput(InputShape):
    """``{"email"}``: whose accounts get a reset link."""

    what = "password reset request"

    email = serializers.EmailField(max_length=254)


class NewPasswordInput(InputShape):
    """``{"newPassword", "newPasswordAgain"}``, checked against the policy for the account (``context["manager"]``)."""

    what = "new password"

    newPassword = Text(max_length=1024, trim_whitespace=False)  # noqa: N815 (the names the screens send)
    newPasswordAgain = Text(max_length=1024, trim_whitespace=False)  # noqa: N815

    def validate_newPassword(self, value: str) -> str:  # noqa: N802
        manager = self.context["manager"]
        problems = password_problems(value, [manager.email, manager.name])
        if problems:
            raise serializers.ValidationError(problems)
        return value

    def validate_newPasswordAgain(self, value: str) -> str:  # noqa: N802
        if value != self.initial_data.get("newPassword"):
            raise serializers.ValidationError("The two passwords differ.")
        return value


# --- Asking for a link ----------------------------------------------------------------------------------------


def request_reset(data, *, ip: str | None, site_url: str) -> None:
    """Queue the reset email for ``data["email"]`` (sent only if the email has accounts; the caller answers the
    same either way). ``Invalid`` for a malformed email, ``RateLimited`` past the per-email or per-IP limit
    (counted whether or not the email has accounts, so a refusal tells nothing either)."""
    email = ResetRequestInput.check(data)["email"].strip().lower()
    counters = [Counter.of(Limit("password-reset-email", settings.PASSWORD_RESET_PER_EMAIL, THROTTLE_WINDOW,
                                 REFUSED), email)]
    if ip:
        counters.append(Counter.of(Limit("password-reset-ip", settings.PASSWORD_RESET_PER_IP, THROTTLE_WINDOW,
                                         REFUSED), ip))
    take(*counters)
    from .tasks import send_password_reset_links  # the task module imports the services

    send_password_reset_links.delay(email, site_url.rstrip("/"))


def send_links(email: str, site_url: str) -> int:
    """Email ``email`` a reset link for each of its portal accounts (nothing when it has none); the count."""
    accounts = list(Manager.objects.select_related("portal").filter(email=email).order_by("portal__name"))
    if not accounts:
        return 0
    links = [
        {"portal": manager.portal.display_title, "domain": manager.portal.domain,
         "url": site_url + reverse("web:password-reset-link",
                                   kwargs={"manager_id": manager.public_id, "token": tokens.make_token(manager)})}
        for manager in accounts
    ]
    context = {"email": email, "links": links, "minutes": settings.PASSWORD_RESET_TIMEOUT // 60}
    subject = render_to_string("portals/reset/email_subject.txt", context).strip()
    if settings.EMAIL_BACKEND == "django.core.mail.backends.dummy.EmailBackend":
        log.error("Password reset email not sent: no EMAIL_URL is configured (README, 'Email').")
        return 0
    send_mail(subject, render_to_string("portals/reset/email.txt", context), None, [email])
    return len(accounts)


# --- Using a link -------------------------------------------------------------------------------------------


def manager_for_link(manager_id: str, token: str) -> Manager | None:
    """The account a reset link names, while the link is valid; None for a used, expired or forged link."""
    try:
        pk = decode_id(manager_id)
    except InvalidId:
        return None
    manager = Manager.objects.select_related("portal").filter(pk=pk).first()
    return manager if manager is not None and tokens.check_token(manager, token) else None


def reset_password(manager_id: str, token: str, data) -> Manager:
    """Give the account of a valid link the new password (``data``: :class:`NewPasswordInput`), end all of its
    sessions and record ``updateManager`` (``passwordReset: true``), in one transaction.

    ``LinkNotValid`` (410) when the link is used, expired or forged — also when another use of the same link
    won the race — and ``Invalid`` when the password breaks the policy; either way nothing changes.
    """
    manager = manager_for_link(manager_id, token)
    if manager is None:
        raise LinkNotValid()
    password = NewPasswordInput.check(data, manager=manager)["newPassword"]
    with transaction.atomic():
        manager = Manager.objects.select_for_update(of=("self",)).select_related("portal").get(pk=manager.pk)
        if not tokens.check_token(manager, token):
            raise LinkNotValid()
        manager.set_password(password)
        manager.save(update_fields=["password", "updated_at"])
        ManagerSession.objects.filter(manager=manager).delete()
        record(manager.portal, OperationType.UPDATE_MANAGER, actor=Actor(Actor.MANAGER, manager.id, manager.email),
               payload={"managerId": manager.public_id, "email": manager.email, "changes": {},
                        "passwordChanged": True, "passwordReset": True, "managerEmail": manager.email})
    return manager
