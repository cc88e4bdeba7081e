"""The OpenAPI document lists the errors every operation can answer, not only its success.

drf-spectacular documents the success status of each operation; the error statuses come from the rules every
view shares (``management-api.md`` §1): 400 for invalid input (a body, filters, a cursor or a limit); 401 for
no valid token wherever a token is required; 403 for a missing flag on a write (every member may read); 404
for an object ID in the path — or, for a link (``LinkView``), in the body — that names nothing of this portal;
409 for conflicts when a resource or a link is written (not for extra actions such as ``disable``). All carry
the one error body of ``catena_site.api.errors``. A status an operation already documents
(``extend_schema(responses=…)``) is kept. The ``DELETE`` of a link documents its body, as the ``POST`` does.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny

from catena_site.api.views import LinkView

ERROR_COMPONENT = ResolvedComponent(
    name="Error",
    type=ResolvedComponent.SCHEMA,
    object="Error",
    schema={
        "type": "object",
        "properties": {
            "message": {"type": "string", "description": "A sentence for a human."},
            "errors": {
                "type": "object",
                "description": "Invalid input: the reasons, by field.",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
        "required": ["message"],
    },
)
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ERROR_DESCRIPTIONS = {
    "400": "Invalid input: every field's reason under `errors`.",
    "401": "No valid token.",
    "403": "The token's manager lacks the permission (the message names it).",
    "404": "No such object in this portal.",
    "409": "A conflict: a duplicate, a link that already exists, or something still in use.",
}


class CatenaAutoSchema(AutoSchema):
    def _error_codes(self) -> list[str]:
        permissions = self.view.get_permissions()
        write = self.method in WRITES
        # A write guarded by a flag (``CanManage``…: every member may read) on a resource, not an extra action
        # such as ``disable`` or ``reset_playback_token``.
        flagged_write = write and any(getattr(permission, "permission", "") for permission in permissions)
        codes = []
        if write or self._is_list_view():
            codes.append("400")
        if not all(isinstance(permission, AllowAny) for permission in permissions):
            codes.append("401")
        if flagged_write:
            codes.append("403")
        if "{" in self.path or isinstance(self.view, LinkView):
            codes.append("404")
        if flagged_write and getattr(self.view, "action", None) in (None, "create", "update", "destroy"):
            codes.append("409")
        return codes

    def _get_request_body(self, direction="request"):
        # drf-spectacular documents bodies of POST, PUT and PATCH only; a link is removed by a DELETE carrying the
        # same body as the POST that made it (``management-api.md`` §6–7), and the document says so too — as for
        # any other view whose DELETE takes a body (``delete_has_body``, e.g. ``DELETE /me/totp {code}``).
        if self.method == "DELETE" and (isinstance(self.view, LinkView) or getattr(self.view, "delete_has_body", False)):
            self.method = "POST"
            try:
                return super()._get_request_body(direction)
            finally:
                self.method = "DELETE"
        return super()._get_request_body(direction)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        self.registry.register_on_missing(ERROR_COMPONENT)
        for code in self._error_codes():
            responses.setdefault(code, {
                "content": {"application/json": {"schema": ERROR_COMPONENT.ref}},
                "description": ERROR_DESCRIPTIONS[code],
            })
        return responses
