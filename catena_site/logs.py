"""Request IDs and structured logs (operations.md §2).

Every request has an ID: the caller's ``X-Request-ID`` when it is a plausible one (1–64 characters of
``A-Z a-z 0-9 . _ -``), else a new one; the response carries it back in ``X-Request-ID``. While the request runs,
its log context holds that ID and, once known, the portal, manager and subscriber it acts for
(:func:`identify`); tasks it enqueues carry the context in a message header and the worker restores it while the
task runs, so the worker's lines name the request that caused them.

``LOG_FORMAT=json`` (settings) formats every line as one JSON object: ``time``, ``level``, ``logger``,
``message``, and when known ``request_id``, ``portal_id``, ``manager_id``, ``subscriber_id`` (public IDs),
``task`` and ``task_id`` in the worker, ``duration`` (seconds), ``method``, ``path``, ``status`` and ``view`` on
request lines (``catena.request``, with ``LOG_REQUESTS``), and ``exception`` (the traceback).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import os
import re
import time
from contextvars import ContextVar

from celery import signals
from django.conf import settings

from catena_site.ids import encode_id
from catena_site.log_filters import hide_secrets

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TASK_HEADER = "catena_log"  # the message header that carries the log context into a task
ID_FIELDS = ("portal_id", "manager_id", "subscriber_id")  # integers in the context, public IDs in the lines
REQUEST_FIELDS = ("duration", "method", "path", "status", "view")  # ``extra`` of catena.request's lines

request_log = logging.getLogger("catena.request")

# The current request's (or task's) context: {"request_id": str, "portal_id": int, …}; None outside of both.
_context: ContextVar[dict | None] = ContextVar("catena_log_context", default=None)


def current() -> dict:
    """The log context of the running request or task (empty outside of both); a copy."""
    return dict(_context.get() or {})


def identify(*, portal_id: int | None = None, manager_id: int | None = None,
             subscriber_id: int | None = None) -> None:
    """Name who the running request (or task) acts for in its log lines, from now on; None leaves a field as is."""
    context = _context.get()
    if context is None:
        return
    for name, value in (("portal_id", portal_id), ("manager_id", manager_id), ("subscriber_id", subscriber_id)):
        if value is not None:
            context[name] = value


def request_id_from(value: str | None) -> str:
    """The caller's request ID if it is a valid one, else a new one (32 hex digits)."""
    if value and REQUEST_ID.fullmatch(value):
        return value
    return os.urandom(16).hex()  # as random as uuid4().hex, without building a UUID: several times cheaper


class RequestContextMiddleware:
    """Gives each request its ID and log context, returns the ID in ``X-Request-ID``, and with ``LOG_REQUESTS``
    logs one ``catena.request`` line when the response is ready."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = _context.set({"request_id": request_id})
        try:
            started = time.perf_counter()
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            if settings.LOG_REQUESTS:
                log_request(request, response, time.perf_counter() - started)
            return response
        finally:
            _context.reset(token)


def log_request(request, response, duration: float) -> None:
    """The request's line: ``GET /path 200`` (never the query string: it may carry keys and tokens). INFO, but
    WARNING for a 4xx other than 404 and ERROR for a 5xx — unless the view marked its answer as ordinary (an auth
    check's refusal: ``_has_been_logged``, which also keeps it out of ``django.request``'s warnings)."""
    match = getattr(request, "resolver_match", None)
    status = response.status_code
    level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 and status != 404 else logging.INFO
    if level == logging.WARNING and getattr(response, "_has_been_logged", False):
        level = logging.INFO
    path = hide_secrets(request.path)  # an Xtream stream URL's path carries the player password
    request_log.log(level, "%s %s %s", request.method, path, status, extra={
        "duration": round(duration, 6), "method": request.method, "path": path, "status": status,
        "view": match.view_name if match is not None else None})


class JsonFormatter(logging.Formatter):
    """One JSON object per record (the module's docstring lists the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
                      .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get()
        if context:
            for name, value in context.items():
                line[name] = encode_id(value) if name in ID_FIELDS and isinstance(value, int) else value
        for name in REQUEST_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["exception"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(config: dict) -> None:
    """Django's LOGGING_CONFIG: ``settings.LOGGING``, and with JSON lines Python's warnings as log records too (a
    warning printed as it is would be the one line that is not JSON)."""
    logging.config.dictConfig(config)
    if settings.LOG_FORMAT == "json":
        logging.captureWarnings(True)


# --- Celery: the context travels with the task ------------------------------------------------------------


@signals.before_task_publish.connect
def _carry_context(headers=None, **kwargs) -> None:
    """A task sent while a request (or task) runs carries its log context in a header."""
    context = _context.get()
    if context and headers is not None:
        headers[TASK_HEADER] = {name: value for name, value in context.items()
                                if name == "request_id" or name in ID_FIELDS}


@signals.task_prerun.connect
def _restore_context(task_id=None, task=None, **kwargs) -> None:
    """The worker runs the task in the context of the request that sent it (and names the task)."""
    carried = getattr(task.request, TASK_HEADER, None) if task is not None else None
    if task is not None and task.request.is_eager:
        return  # run inline, in the sender's own context
    context = dict(carried) if isinstance(carried, dict) else {}
    context.update(task=task.name if task is not None else None, task_id=task_id)
    _tokens[task_id] = _context.set(context)


@signals.task_postrun.connect
def _end_context(task_id=None, **kwargs) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        _context.reset(token)


_tokens: dict = {}


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _json_worker_lines(logger=None, **kwargs) -> None:
    """Celery sets up the worker's and beat's logging itself: with LOG_FORMAT=json its handlers write JSON too."""
    if settings.LOG_FORMAT != "json" or logger is None:
        return
    logging.captureWarnings(True)
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
