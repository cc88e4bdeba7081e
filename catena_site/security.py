"""Security headers every answer needs: Content-Security-Policy on pages, ``Cache-Control: no-store`` on secrets.

The screens load only their own scripts and styles (``static/``), so the policy allows nothing but this
site: an injected ``<script>`` or inline handler does not run. Django's admin and the Swagger page
(drf-spectacular's split view, whose start-up script is a separate file) keep a few inline ``<style>``
blocks, so those two areas also allow inline styles, never inline scripts.

API answers (API key, session ids, playback tokens, stream addresses) and the screens of a logged-in
manager (API key, playback tokens) are ``no-store``: neither a shared proxy nor the browser's history keeps
them. An answer that chose its own caching (channel logos) keeps it.
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
INLINE_STYLES_POLICY = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
INLINE_STYLE_PREFIXES = ("/admin/", "/api-docs/")
NO_STORE_PREFIXES = ("/tv-management/api/", "/tv/api/")


class SecurityHeadersMiddleware:
    """Adds Content-Security-Policy to HTML answers and ``Cache-Control: no-store`` to answers with secrets."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return add_security_headers(request, self.get_response(request))


def add_security_headers(request, response):
    """What :class:`SecurityHeadersMiddleware` adds to ``response`` (also used by the auth check's lean dispatch)."""
    path = request.path
    is_html = response.get("Content-Type", "").startswith("text/html")
    if is_html and "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = (
            INLINE_STYLES_POLICY if path.startswith(INLINE_STYLE_PREFIXES) else CONTENT_SECURITY_POLICY)
    if "Cache-Control" not in response and (
        path.startswith(NO_STORE_PREFIXES) or (is_html and getattr(request, "caller", None) is not None)
    ):
        response["Cache-Control"] = "no-store"
    return response
