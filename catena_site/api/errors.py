"""One error body for the whole API: ``{"message": "...", "errors": {"<field>": ["<reason>"]}}``."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from catena_site.errors import RateLimited, ServiceError
from catena_site.inputs import flatten

log = logging.getLogger(__name__)

INTERNAL_ERROR = "Internal error"
# Paths whose clients read JSON: even an unexpected failure answers JSON there, never the HTML 500 page.
API_PREFIXES = ("/tv-management/api/", "/tv/api/")


def _summary(errors: dict[str, list[str]]) -> str:
    parts = [f"{field}: {reasons[0]}" for field, reasons in errors.items() if reasons]
    return "Invalid input. " + "; ".join(parts) if parts else "Invalid input."


def error_body(message: str, errors: dict | None = None) -> dict:
    body = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return body


def exception_handler(exc, context):
    """DRF exception handler producing the documented error body for every failure."""
    if isinstance(exc, ServiceError):
        response = Response(error_body(exc.message, exc.errors or None), status=exc.status)
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body(_summary(errors), errors), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.ValidationError):
        errors = flatten(exc.detail)
        return Response(error_body(_summary(errors), errors), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body(f"Malformed request body: {exc.detail}", {}), status=400)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait) + 1)
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            headers["WWW-Authenticate"] = "X-Auth-Token"
            exc.status_code = status.HTTP_401_UNAUTHORIZED
        return Response(error_body(str(exc.detail)), status=exc.status_code, headers=headers)
    if isinstance(exc, RequestDataTooBig):  # Django read the body first (it caps what it reads itself)
        return Response(error_body(f"Request body larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (SuspiciousOperation, BadRequest)):  # what Django itself answers with a 400
        if isinstance(exc, SuspiciousOperation):
            logging.getLogger(f"django.security.{exc.__class__.__name__}").error(str(exc))
        return Response(error_body("Bad request."), status=status.HTTP_400_BAD_REQUEST)
    return _internal_error(exc, context.get("request"))


def _internal_error(exc, request) -> Response:
    """A bug or an unexpected failure (a lost database, …): logged with its traceback, answered with JSON 500."""
    set_rollback()
    log.error("Internal error: %s %s", getattr(request, "method", "?"), getattr(request, "path", "?"),
              exc_info=(type(exc), exc, exc.__traceback__))
    response = Response(error_body(INTERNAL_ERROR), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    response._has_been_logged = True  # logged above, with the traceback django.request would not have
    return response


def json_not_found(request, exception=None):
    """404 for paths no route matches, JSON under the API prefix."""
    return JsonResponse(error_body("Not found."), status=404)


def server_error(request, *args, **kwargs):
    """``handler500``: JSON under the API prefixes (an error outside a view, e.g. while rendering), else the page."""
    if request.path.startswith(API_PREFIXES):
        return JsonResponse(error_body(INTERNAL_ERROR), status=500)
    return defaults.server_error(request, *args, **kwargs)


def bad_request(request, exception, *args, **kwargs):
    """``handler400``: a request Django refuses before any view (a ``Host`` not in ``ALLOWED_HOSTS``, …),
    JSON under the API prefixes, else the page."""
    if request.path.startswith(API_PREFIXES):
        return JsonResponse(error_body("Bad request."), status=400)
    return defaults.bad_request(request, exception, *args, **kwargs)
