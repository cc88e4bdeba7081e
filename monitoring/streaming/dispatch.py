"""The auth check's lean dispatch: ``GET /streaming/flussonic/auth`` answered by a middleware placed right after the
request's log context and metrics (``settings.MIDDLEWARE``), without the rest of Django's middleware stack.

The streaming server asks on every play and then every ``X-AuthDuration`` of every viewer. Of a warm check's time
in a web process, the middleware between the request's metrics and the view (security, sessions, locale, common,
CSRF, authentication, the manager's session and screen locale, messages, clickjacking, htmx) took about a third
(performance.md), and none of it decides anything for this path. So this middleware answers it and does what they
would have done, with their own code where there is any — the answer is the same, header for header
(tests/streaming/test_lean_dispatch.py compares it with the full stack's):

- the host is validated (``ALLOWED_HOSTS``), ``SecurityMiddleware``'s redirect to https considered, the language
  set to ``LANGUAGE_CODE`` and the time zone left at UTC, as for every path outside the screens;
- the URLconf's match is set on the request (the request's log line and metrics name the view), and the view is
  called as the handler calls it: an exception becomes the same answer (``response_for_exception``);
- the answer gets what the skipped middleware add: X-Frame-Options, Content-Length, Content-Language,
  ``Vary: Accept-Language, Cookie``, the security headers (``process_response`` of the same classes).

Only what cannot change the answer is taken this way: a GET without cookies (a streaming server sends none) on a
host Django accepts, when no setting asks the skipped middleware to do more (``DISALLOWED_USER_AGENTS``,
``PREPEND_WWW``, ``ATOMIC_REQUESTS``). Anything else — another method (405), a request with a cookie (a browser:
sessions, CSRF, messages), a refused host (400), a redirect to https — goes through the full stack, unchanged.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.db import connections
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.locale import LocaleMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, get_resolver, get_urlconf
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

from catena_site.security import add_security_headers

AUTH_PATHS = frozenset({"/streaming/flussonic/auth", "/streaming/flussonic/auth/"})
AUTH_VIEW = "streaming:flussonic-auth"


class StreamingAuthMiddleware:
    """Answers the auth check without the middleware after it (see the module's docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.security = SecurityMiddleware(get_response)
        # The skipped middleware that change an answer, innermost first (the order they see it).
        self.finishers = (XFrameOptionsMiddleware(get_response).process_response,
                          CommonMiddleware(get_response).process_response,
                          LocaleMiddleware(get_response).process_response)
        self.matches: dict[tuple, object] = {}
        self.added: dict[tuple, dict[str, tuple[str, str]]] = {}
        self.atomic = any(connections.settings[alias].get("ATOMIC_REQUESTS") for alias in connections)

    def __call__(self, request):
        match = self.lean_match(request)
        if match is None:
            return self.get_response(request)
        request.resolver_match = match
        translation.activate(settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = settings.LANGUAGE_CODE
        try:
            response = match.func(request, *match.args, **match.kwargs)
        except Exception as exc:  # as the handler's innermost wrapper answers it
            response = response_for_exception(request, exc)
        finally:
            timezone.deactivate()
        return self.finish(request, response)

    def lean_match(self, request):
        """The URLconf's match for a request this middleware answers, or None (the full stack answers it)."""
        if (request.path_info not in AUTH_PATHS or request.method != "GET" or request.META.get("HTTP_COOKIE")
                or settings.DISALLOWED_USER_AGENTS or settings.PREPEND_WWW or self.atomic):
            return None
        try:
            request.get_host()  # ALLOWED_HOSTS
        except DisallowedHost:
            return None
        if self.security.process_request(request) is not None:  # a redirect to https
            return None
        urlconf = get_urlconf() or settings.ROOT_URLCONF
        key = (urlconf, request.path_info)
        match = self.matches.get(key)
        if match is None:
            try:
                match = get_resolver(urlconf).resolve(request.path_info)
            except Resolver404:
                return None
            if match.view_name != AUTH_VIEW:
                return None
            self.matches[key] = match
        return match

    def finish(self, request, response):
        """The skipped middleware's additions. A plain answer (not HTML, not streamed, not a 404, none of their
        headers set by the view) gets the headers they gave the same kind of answer before, computed by their own
        code once per scheme and language (they depend on nothing else then), and its Content-Length."""
        if (response.streaming or response.status_code == 404 or "Vary" in response
                or response.get("Content-Type", "").startswith("text/html")):
            return self.finish_fully(request, response)
        key = (request.is_secure(), translation.get_language())
        added = self.added.get(key)
        if added is None:
            added = self.added[key] = self.headers_added(request)
        if any(name in response.headers._store for name in added):
            return self.finish_fully(request, response)
        # The entries as ``response[name] = value`` stores them, converted once (a tenth of the check's time else).
        response.headers._store.update(added)
        response["Content-Length"] = str(len(response.content))
        return response

    def headers_added(self, request) -> dict[str, tuple[str, str]]:
        """The headers ``finish_fully`` adds to a plain answer of this request's scheme and language, as entries of
        the response's header store (lower-cased name → (name, value))."""
        probe = HttpResponse(content_type="text/plain")
        before = set(probe.headers._store)
        finished = self.finish_fully(request, probe).headers._store
        return {key: entry for key, entry in finished.items() if key not in before and key != "content-length"}

    def finish_fully(self, request, response):
        for process_response in self.finishers:
            response = process_response(request, response)
        patch_vary_headers(response, ("Cookie",))  # the full stack reads the (empty) session: it varies on it
        add_security_headers(request, response)
        return self.security.process_response(request, response)

