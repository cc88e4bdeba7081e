"""Screens of EPG: XMLTV sources, their fetches (live status, history, durations) and the programme browser.

Everyone reads; ``can_manage_content`` creates, edits, deletes and updates sources. Every change goes through
``content.epg.services``; a refusal is shown as the service phrased it. Reads come from ``content.epg.selectors``.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property

from django.contrib import messages
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from catena_site.errors import ServiceError
from catena_site.lists import Column, PortalListView
from catena_site.web import (
    PortalMixin,
    forbidden,
    form_refused,
    keyset_page,
    live_block_response,
    service_error_page,
)
from portals.permissions import requires_sentence

from ..filters import EpgSourceFilter
from ..forms import EpgSourceForm
from ..models import ACTIVE_STATUSES, Channel, EpgFetch, EpgSource, Program
from ..views import ContentAdminMixin
from . import mapping
from . import selectors as epg_selectors
from . import services as epg_services

CHART_FETCHES = 20  # fetches the import-duration chart shows
POLL_SECONDS = 2  # how often the source page asks for the status of a queued or running fetch


def sources_with_figures(portal):
    """``epg_sources_for`` plus the stored programme count and the status of a queued or running fetch,
    each one subquery per list (no N+1)."""
    programs = (Program.objects.filter(epg_source=OuterRef("pk")).order_by()
                .values("epg_source").annotate(n=Count("id")).values("n"))
    active = (EpgFetch.objects.filter(epg_source=OuterRef("pk"), status__in=ACTIVE_STATUSES)
              .order_by().values("status"))
    return epg_selectors.epg_sources_for(portal).annotate(
        program_count=Coalesce(Subquery(programs, output_field=IntegerField()), Value(0)),
        active_status=Subquery(active[:1]),
    )


def source_status(active: EpgFetch | None, last: EpgFetch | None) -> str:
    """What a source's badge says: its fetch in progress, else its newest finished one, else ``never``."""
    if active is not None:
        return active.status
    return last.status if last is not None else "never"


# --- Sources ----------------------------------------------------------------------------------------------


class EpgSourceListView(PortalListView):
    """Sources by name with their last update, status and programme count; ``?search=`` (EpgSourceFilter)."""

    template_name = "content/epg_source_list.html"
    section = "epg"
    filterset_class = EpgSourceFilter
    filter_names = ("search", "name")
    filter_labels = {"search": _("Search")}
    columns = [
        Column(_("Name"), sort="name", csv=lambda row: row.name),
        Column(_("URL"), sort="url", csv=lambda row: row.url),
        Column(_("Period"), sort="period", csv=lambda row: row.period),
        Column(_("Last update"), csv=lambda row: row.last_fetch.finished_at.isoformat()
               if row.last_fetch and row.last_fetch.finished_at else ""),
        Column(_("Status"), csv=lambda row: row.badge_status),
        Column(_("Programmes"), csv=lambda row: row.program_count),
        Column(""),
    ]
    default_sort = "name"
    row_template = "content/epg_source_row.html"
    csv_filename = "epg-sources.csv"

    def get_queryset(self):
        return sources_with_figures(self.portal)

    def decorate_rows(self, rows: list) -> list:
        for source in rows:
            source.badge_status = source.active_status or source_status(None, source.last_fetch)
        return rows

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "search": self.request.GET.get("search", "")}


class EpgSourceObjectMixin:
    @cached_property
    def source(self) -> EpgSource:
        return self.get_portal_object(EpgSource.objects.select_related("last_fetch"), self.kwargs["source_id"])


class EpgSourceFormMixin:
    """Create and edit: a service refusal goes on the form, with the API's status code."""

    template_name = "content/epg_source_form.html"
    section = "epg"
    source = None

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = form or EpgSourceForm(source=self.source)
        context["source"] = self.source
        return context

    def save(self, form) -> EpgSource:
        raise NotImplementedError

    def submit(self, form, message: str):
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            source = self.save(form)
        except ServiceError as exc:
            return form_refused(self, form, exc)
        messages.success(self.request, message.format(name=source.name))
        return redirect("content:epg-source-detail", source_id=source.public_id)


class EpgSourceCreateView(ContentAdminMixin, EpgSourceFormMixin, TemplateView):
    def post(self, request):
        return self.submit(EpgSourceForm(request.POST),
                           "EPG source {name} created. It is fetched within a few minutes; "
                           "press Update now to fetch it at once.")

    def save(self, form) -> EpgSource:
        return epg_services.create_epg_source(self.portal, caller=self.caller, data=form.service_data())


class EpgSourceEditView(ContentAdminMixin, EpgSourceObjectMixin, EpgSourceFormMixin, TemplateView):
    def post(self, request, source_id):
        return self.submit(EpgSourceForm(request.POST, source=self.source), "EPG source {name} saved.")

    def save(self, form) -> EpgSource:
        return epg_services.update_epg_source(self.source, caller=self.caller, data=form.service_data())


class EpgSourceDeleteView(ContentAdminMixin, EpgSourceObjectMixin, TemplateView):
    """Confirmation naming the channels whose EPG fields are cleared, then ``delete_epg_source``."""

    template_name = "content/epg_source_delete.html"
    section = "epg"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["source"] = self.source
        context["channels"] = list(Channel.objects.filter(epg_source=self.source).order_by("title", "id")
                                   .only("id", "name", "title"))
        context["program_count"] = Program.objects.filter(epg_source=self.source).count()
        return context

    def post(self, request, source_id):
        source = self.source
        try:
            cleared = epg_services.delete_epg_source(source, caller=self.caller)
        except ServiceError as exc:
            return self.render_to_response(self.get_context_data(error=exc.message), status=exc.status)
        text = f"EPG source {source.name} deleted."
        if cleared:
            count = len(cleared)
            text += f" {count} channel{'s' if count != 1 else ''} lost {'their' if count != 1 else 'its'} EPG: " \
                    f"{', '.join(cleared)}."
        messages.success(request, text)
        return redirect("content:epg-source-list")


class EpgSourceUpdateView(ContentAdminMixin, EpgSourceObjectMixin, View):
    """POST "Update now": queue a fetch, or point at the one already queued or running."""

    http_method_names = ["post"]

    def post(self, request, source_id):
        source = self.source
        try:
            fetch, created = epg_services.request_fetch(source, caller=self.caller)
        except ServiceError as exc:
            return service_error_page(request, exc)
        if created:
            messages.success(request, _("Update of %(name)s started (job %(job_id)s).") % {"name": source.name, "job_id": fetch.job_id})
        else:
            since = timezone.localtime(fetch.started_at or fetch.created_at, dt.UTC)
            messages.warning(request, _("%(name)s is already being updated: job %(job_id)s is %(status)s since "
                                        "%(since)s UTC. No other update was started.")
                             % {"name": source.name, "job_id": fetch.job_id, "status": fetch.status,
                                "since": f"{since:%H:%M:%S}"})
        return redirect("content:epg-source-detail", source_id=source.public_id)


# --- The source page ------------------------------------------------------------------------------------


def live_status_context(source: EpgSource) -> dict:
    """What the live status block shows: the fetch in progress, else the newest finished one."""
    active = epg_selectors.active_fetch(source)
    last = source.last_fetch
    return {"source": source, "active": active, "last": last, "fetch": active or last,
            "status": source_status(active, last), "poll_seconds": POLL_SECONDS}


def duration_chart(fetches: list[EpgFetch], width: int = 600, height: int = 140) -> dict | None:
    """Bars of the import durations of ``fetches`` (oldest first) as SVG geometry, in viewBox units.

    A fetch without an import duration (failed, or still in progress) is a short red mark on the baseline.
    """
    if not fetches:
        return None
    left, top, bottom = 48, 10, 20
    plot_width, plot_height = width - left - 8, height - top - bottom
    longest = max((f.import_duration for f in fetches if f.import_duration is not None), default=0.0)
    scale = longest or 1.0
    slot = plot_width / max(len(fetches), CHART_FETCHES // 2)
    bars = []
    for index, fetch in enumerate(fetches):
        duration = fetch.import_duration
        bar_height = max(1.0, duration / scale * plot_height) if duration is not None else 3.0
        when = timezone.localtime(fetch.created_at, dt.UTC)
        label = f"{when:%Y-%m-%d %H:%M} UTC · {fetch.status}"
        label += f" · import {duration:.2f} s" if duration is not None else " · no import"
        bars.append({"x": round(left + index * slot + slot * 0.15, 1), "width": round(slot * 0.7, 1),
                     "y": round(top + plot_height - bar_height, 1), "height": round(bar_height, 1),
                     "failed": duration is None, "label": label})
    latest = next((f.import_duration for f in reversed(fetches) if f.import_duration is not None), None)
    return {"width": width, "height": height, "bars": bars, "longest": longest, "latest": latest,
            "left": left, "top": top, "baseline": top + plot_height, "right": width - 8, "count": len(fetches)}


def parse_day(raw: str | None) -> tuple[dt.date | None, str]:
    """A ``YYYY-MM-DD`` day (today, UTC, when empty) and ``""``; or None and why it is refused."""
    if not raw:
        return timezone.now().astimezone(dt.UTC).date(), ""
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        return None, "Enter a valid date (YYYY-MM-DD)."
    problem = epg_selectors.day_error(day)
    return (None, problem) if problem else (day, "")


class EpgSourceDetailView(PortalMixin, EpgSourceObjectMixin, TemplateView):
    """A source: details, live status, fetch history, import durations and the programme browser.

    While a fetch is queued or running, the status block asks this page again every couple of seconds (htmx):
    such a request gets the block alone (``content/epg_live_status.html``). Once the fetch is over, it gets the
    whole page, from which the block takes its final state (without ``hx-trigger``: the polling stops) and the
    figures, history, chart and programmes their new content (``hx-select-oob``).
    """

    template_name = "content/epg_source_detail.html"
    block_template_name = "content/epg_live_status.html"
    section = "epg"

    def get(self, request, *args, **kwargs):
        if request.htmx:
            context = live_status_context(self.source)
            if context["active"] is not None:
                return live_block_response(request, self.response_class(
                    request, [self.block_template_name], context, using=self.template_engine))
        return live_block_response(request, super().get(request, *args, **kwargs))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        source = self.source
        query = self.request.GET
        fetches = epg_selectors.fetches_for(self.portal, source=source)
        recent = list(fetches.only("id", "status", "created_at", "import_duration")[:CHART_FETCHES])
        context.update(live_status_context(source))
        context.update(
            program_count=Program.objects.filter(epg_source=source).count(),
            channel_count=Channel.objects.filter(epg_source=source).count(),
            history=keyset_page(self.request, fetches, ("-id",), param="history", anchor="history"),
            chart=duration_chart(recent[::-1]),
        )
        context.update(self.program_browser(source, query))
        return context

    def program_browser(self, source: EpgSource, query) -> dict:
        """The programmes of one UTC day (``?date=``, today by default), of one EPG channel or all."""
        day, problem = parse_day(query.get("date"))
        channel = query.get("channel", "")
        names = epg_selectors.epg_channel_names(source)
        result = {"channel_names": names, "channel": channel, "date": query.get("date", ""), "programs": None,
                  "program_errors": []}
        if day is None:
            result["program_errors"] = [f"Date: {problem}"]
            return result
        programs = epg_selectors.programs_of(source, day=day, channel=channel or None).only(
            "id", "epg_channel_name", "start", "end", "title", "description", "genre")
        params = query.copy()
        params.pop("programs", None)
        params.pop("history", None)
        links = {}
        for key, other in (("previous_day", day - dt.timedelta(days=1)), ("next_day", day + dt.timedelta(days=1))):
            params["date"] = other.isoformat()
            links[key] = f"?{params.urlencode()}#programs"
        result.update(day=day, date=day.isoformat(), programs=keyset_page(
            self.request, programs, ("start", "id"), param="programs", anchor="programs"), **links)
        return result


# --- Guided mapping ---------------------------------------------------------------------------------------

MAPPING_FILTERS = ("unmapped", "suggested", "mapped", "all")
XMLTV_CHANNELS_SHOWN = 500  # XMLTV channels listed at once beside the portal's; the search narrows them


def mapping_filter(rows: list, show: str, search: str) -> list:
    """The rows of the mapping screen that ``?show=`` (unmapped by default) and ``?search=`` (title or name,
    any case) keep."""
    needle = search.strip().casefold()
    keep = {"unmapped": lambda row: not row.mapped, "suggested": lambda row: row.suggestion is not None,
            "mapped": lambda row: row.mapped}.get(show, lambda row: True)
    return [row for row in rows if keep(row) and (not needle or needle in row.channel.title.casefold()
                                                  or needle in row.channel.name.casefold())]


class EpgMappingView(PortalMixin, EpgSourceObjectMixin, TemplateView):
    """The guided mapping of a source: its XMLTV channels beside the portal's channels with the suggested
    matches; ``can_manage_content`` accepts one suggestion or all (``content.epg.mapping.apply_mapping``, one
    transaction, each channel recorded as ``updateChannel``)."""

    template_name = "content/epg_mapping.html"
    section = "epg"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        source, query = self.source, self.request.GET
        show = query.get("show", "unmapped") if query.get("show") in MAPPING_FILTERS else "unmapped"
        search = query.get("search", "")
        xmltv_count, listed, more = mapping.listed_xmltv_channels(source, search, XMLTV_CHANNELS_SHOWN)
        rows = mapping.mapping_rows(source)
        context.update(
            source=source, show=show, search=search, filters=MAPPING_FILTERS, xmltv_count=xmltv_count,
            xmltv_channels=listed, xmltv_more=more,
            rows=mapping_filter(rows, show, search), channel_count=len(rows),
            mapped_count=sum(row.mapped for row in rows),
            suggestion_count=sum(row.suggestion is not None for row in rows),
        )
        return context

    def post(self, request, source_id):
        if not self.caller.can_manage_content:
            return forbidden(request, requires_sentence("isContentAdmin", "Mapping channels"))
        if "accept_all" in request.POST:
            data = {"acceptAll": True}
        else:
            data = {"accept": [{"channelId": request.POST.get("channel", ""),
                                "epgChannelName": request.POST.get("epg_channel_name", "")}]}
        try:
            changed = mapping.apply_mapping(self.source, caller=self.caller, data=data)
        except ServiceError as exc:
            return service_error_page(request, exc)
        if changed:
            messages.success(request, ngettext(
                "%(count)d channel now reads its guide from %(source)s: %(names)s.",
                "%(count)d channels now read their guide from %(source)s: %(names)s.", len(changed))
                % {"count": len(changed), "source": self.source.name,
                   "names": ", ".join(f"{channel.title} → {name}" for channel, name in changed)})
        else:
            messages.info(request, _("Nothing to map: no channel changed."))
        back = request.POST.get("back", "")
        return redirect(reverse("content:epg-source-mapping", args=[self.source.public_id])
                        + ("?" + back if back and not back.startswith(("/", "http")) else ""))
