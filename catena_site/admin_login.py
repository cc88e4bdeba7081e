"""``/admin/login/`` with the managers' login throttling (``catena_site.throttle.LoginAttempt``).

Django's admin login has no limit of its own; this view counts each POST before Django checks the password
and takes the count back when the login succeeded, so the admin accounts get the same 429s as the
managers' login (per account and address, per address, per account from new addresses).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from catena_site.errors import RateLimited
from catena_site.http import client_ip
from catena_site.throttle import LoginAttempt


@never_cache
@csrf_protect
def admin_login(request):
    """Django's admin login view, throttled; 429 with ``Retry-After`` while the attempt is refused."""
    if request.method != "POST":
        return admin.site.login(request)
    username = (request.POST.get("username") or "").strip().lower()
    attempt = LoginAttempt("admin", username, client_ip(request))
    try:
        attempt.begin()
    except RateLimited as exc:
        response = HttpResponse(exc.message, status=429, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(exc.retry_after)
        return response
    response = admin.site.login(request)
    if response.status_code in (301, 302) and request.user.is_authenticated:
        attempt.succeeded()
    return response
