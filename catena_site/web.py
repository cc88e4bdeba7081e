"""Building blocks of the web screens: login, portal scope, permission flags, service errors, filters, pages,
the CSV import screen.

Every screen view starts from one of the mixins here, so that "who may see this" and "which portal's
objects" are decided in one place, like ``PortalViewSet`` does for the API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from django_htmx.http import HttpResponseClientRedirect
from rest_framework.exceptions import ValidationError as InvalidCursor

from catena_site.api.pagination import Keyset
from catena_site.csvfiles import ImportForm, read_limited
from catena_site.errors import Forbidden, ServiceError
from catena_site.ids import InvalidId, decode_id

SCREEN_PAGE_SIZE = 50


def forbidden(request, message: str):
    """The 403 page with the reason."""
    return render(request, "403.html", {"message": message}, status=403)


def service_error_page(request, error: ServiceError):
    """A refused change that has no form to show it on: its message, with the API's status code."""
    if error.status == 403:
        return forbidden(request, error.message)
    return render(request, "error.html", {"message": error.message, "status": error.status}, status=error.status)


def show_service_errors(form, error: ServiceError, field_map: dict[str, str]) -> None:
    """Attach a service refusal to a form: each ``error.errors`` key on its field, the rest on the form.

    ``field_map`` translates the service's keys (API names such as ``branding.title``) to form field names.
    """
    attached = False
    for key, reasons in error.errors.items():
        field = field_map.get(key)
        form.add_error(field if field in form.fields else None, list(reasons))
        attached = True
    if not attached:
        form.add_error(None, error.message)


def form_refused(view, form, error: ServiceError):
    """A refused form submission: the 403 page, or ``view`` drawn again with the refusal on ``form``'s fields
    (``form.SERVICE_FIELDS`` maps the service's keys to them) and the API's status code."""
    if error.status == 403:
        return service_error_page(view.request, error)
    show_service_errors(form, error, form.SERVICE_FIELDS)
    return view.render_to_response(view.get_context_data(form=form), status=error.status)


def action_refused(request, error: ServiceError, url: str):
    """A refused button (a POST without a form page): the 403 page, or its message back on ``url``."""
    if error.status == 403:
        return service_error_page(request, error)
    messages.error(request, error.message)
    return redirect(url)


def filter_errors(filterset, labels: dict[str, str]) -> list[str]:
    """An invalid list filter's errors as sentences, each starting with the field's label on the screen."""
    return [f"{labels.get(name, name)}: {' '.join(reasons)}" for name, reasons in filterset.errors.items()]


def filter_params(query: QueryDict, names) -> QueryDict:
    """Only the ``names`` parameters of a screen's query string (the list's FilterSet's), values stripped,
    blanks dropped."""
    data = QueryDict(mutable=True)
    for name in names:
        values = [value.strip() for value in query.getlist(name) if value.strip()]
        if values:
            data.setlist(name, values)
    return data


def get_for_portal(queryset_or_model, portal, public_id: str):
    """The object with this public ID in ``portal``; a malformed ID or another portal's object is a 404."""
    try:
        pk = decode_id(public_id)
    except InvalidId:
        raise Http404 from None
    queryset = queryset_or_model.objects.all() if isinstance(queryset_or_model, type) else queryset_or_model
    obj = queryset.for_portal(portal).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


@dataclass
class ScreenPage:
    """One keyset page of a screen list and the links to move on."""

    rows: list
    next_url: str | None
    first_url: str | None


def keyset_page(request, queryset, ordering: tuple[str, ...], limit: int = SCREEN_PAGE_SIZE, *,
                param: str = "cursor", anchor: str = "", keyset=Keyset) -> ScreenPage:
    """A page of ``queryset`` after ``?<param>=`` (a page with two lists names each one's cursor apart); the
    links keep every other query parameter and end in ``#anchor`` when given. ``keyset`` is the API's
    paginator class (``BoundedKeyset`` for the longest histories)."""
    cursor = request.GET.get(param) or None
    try:
        rows, next_cursor = keyset(queryset.model, ordering).page(queryset, cursor, limit)
    except InvalidCursor:
        raise Http404 from None  # a hand-edited page link, like a malformed ID in a path
    params = request.GET.copy()
    params.pop(param, None)
    fragment = f"#{anchor}" if anchor else ""
    first_url = f"?{params.urlencode()}{fragment}" if cursor else None
    next_url = None
    if next_cursor:
        params[param] = next_cursor
        next_url = f"?{params.urlencode()}{fragment}"
    return ScreenPage(rows=rows, next_url=next_url, first_url=first_url)


class LoginRequiredMixin:
    """A screen for logged-in managers; anyone else is sent to the login page with ``?next=``."""

    def dispatch(self, request, *args, **kwargs):
        if getattr(request, "caller", None) is None:
            if request.htmx:  # a live block of a page whose session ended: the whole page goes to the login
                page = request.htmx.current_url_abs_path or request.get_full_path()
                return HttpResponseClientRedirect(redirect_to_login(page, resolve_url(settings.LOGIN_URL)).url)
            return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))
        return super().dispatch(request, *args, **kwargs)


class PortalMixin(LoginRequiredMixin):
    """A screen of the logged-in manager's portal; every lookup starts from ``self.portal``."""

    @property
    def caller(self):
        return self.request.caller

    @property
    def portal(self):
        return self.request.caller.portal

    def get_portal_object(self, model, public_id: str):
        return get_for_portal(model, self.portal, public_id)


def live_block_response(request, response):
    """The answer of a page with a live block (htmx, ``hx-get`` of the page itself): an htmx request got the
    block only, so caches must tell the two apart, and a block is never stored."""
    patch_vary_headers(response, ("HX-Request",))
    if request.htmx:
        add_never_cache_headers(response)
    return response


class FlagRequiredMixin(PortalMixin):
    """A screen only for callers holding ``required_permission`` (``Caller.holds``); others get the 403 page."""

    required_permission = "isAdmin"

    def dispatch(self, request, *args, **kwargs):
        caller = getattr(request, "caller", None)
        if caller is not None:
            try:
                caller.require(self.required_permission, "This page")
            except Forbidden as refusal:
                return forbidden(request, refusal.message)
        return super().dispatch(request, *args, **kwargs)


# --- Bulk CSV imports -------------------------------------------------------------------------------------

CHECKED_FILE_TTL = 3600  # seconds a checked file waits for "Import"
MAX_REPORT_ROWS = 500  # lines a report page lists; the counts cover every line


class CsvImportView(TemplateView):
    """Upload a CSV; "Check" is a dry run listing every line, "Import" applies the file all or nothing.

    A checked file is kept in the cache for an hour under a random token bound to the manager, so "Import"
    after "Check" needs no second upload. Subclasses name the import function and the screens.
    """

    kind = ""
    list_url_name = ""
    example_url_name = ""
    header = ""

    def run(self, content: bytes, *, dry_run: bool):
        raise NotImplementedError

    def applied_message(self, report) -> str:
        raise NotImplementedError

    def counts(self, report) -> str:
        """What the checked file would do, as a sentence part."""
        raise NotImplementedError

    def cache_key(self, token: str) -> str:
        return f"catena:import:{self.kind}:{self.portal.id}:{self.caller.manager.id}:{token}"

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(form=form or ImportForm(), header=self.header, example_url=reverse(self.example_url_name),
                       list_url=reverse(self.list_url_name), max_rows=MAX_REPORT_ROWS)
        return context

    def post(self, request):
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        upload, token = form.cleaned_data.get("file"), form.cleaned_data.get("checked")
        if upload is not None:
            content, token = read_limited(upload), ""
        else:
            content = cache.get(self.cache_key(token))
            if content is None:
                form.add_error("file", _("The checked file is no longer available; choose it again."))
                return self.render_to_response(self.get_context_data(form=form), status=400)
        dry_run = request.POST.get("action") != "import"
        try:
            report = self.run(content, dry_run=dry_run)
        except ServiceError as exc:
            return service_error_page(request, exc)
        if report.applied:
            if token:
                cache.delete(self.cache_key(token))
            messages.success(request, self.applied_message(report))
            return redirect(self.list_url_name)
        if dry_run and report.ok:
            token = token or secrets.token_urlsafe(16)
            cache.set(self.cache_key(token), content, CHECKED_FILE_TTL)
        shown = report.rows if report.ok else report.failed_rows
        context = self.get_context_data(
            form=ImportForm(),
            report=report,
            counts=self.counts(report),
            dry_run=dry_run,
            checked=token if dry_run and report.ok else "",
            rows=shown[:MAX_REPORT_ROWS],
            hidden_rows=max(0, len(shown) - MAX_REPORT_ROWS),
            file_name=getattr(upload, "name", "") or request.POST.get("file_name", ""),
        )
        return self.render_to_response(context, status=200 if report.ok or dry_run else 400)
