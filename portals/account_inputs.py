"""Input shapes of My account (``/me``): the password change and the two-factor codes."""

from __future__ import annotations

from rest_framework import serializers

from catena_site.inputs import InputShape, Text

from .validators import password_problems

WRONG_CURRENT_PASSWORD = "The current password is not correct."


class PasswordChangeShape(InputShape):
    """``POST /me/password``: the current password (checked against the caller's) and the new one (the password
    policy of managers). Context: ``manager``."""

    what = "password change"

    currentPassword = Text(max_length=1024, trim_whitespace=False)
    newPassword = Text(max_length=1024, trim_whitespace=False)

    def validate_currentPassword(self, value: str) -> str:
        if not self.context["manager"].check_password(value):
            raise serializers.ValidationError(WRONG_CURRENT_PASSWORD)
        return value

    def validate_newPassword(self, value: str) -> str:
        manager = self.context["manager"]
        problems = password_problems(value, [manager.email, manager.name])
        if problems:
            raise serializers.ValidationError(problems)
        return value


class TotpCodeShape(InputShape):
    """``POST /me/totp/confirm`` and ``DELETE /me/totp``: a 6-digit code of the authenticator app (or, to turn
    two-factor authentication off, one of the recovery codes)."""

    what = "code"

    code = Text(max_length=64)
