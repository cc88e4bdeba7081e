"""Screens of content: channels (with logos), packages and their channels, free packages, the channel import.

Everyone reads; ``can_manage_content`` writes channels and packages, ``can_manage`` the free packages. Every
change goes through ``content.services``; a refusal is shown as the service phrased it.
"""

from __future__ import annotations

from functools import cached_property

from django.contrib import messages
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from catena_site.csvfiles import csv_download
from catena_site.errors import ServiceError
from catena_site.lists import Column, PortalListView
from catena_site.web import (
    CsvImportView,
    FlagRequiredMixin,
    PortalMixin,
    action_refused,
    forbidden,
    form_refused,
    live_block_response,
)
from portals.permissions import requires_sentence

from . import selectors, services
from .api.views import logo_response
from .epg import mapping as epg_mapping
from .epg import selectors as epg_selectors
from .epg.selectors import mark_epg_today
from .filters import ChannelFilter, PackageFilter
from .forms import ChannelForm, PackageForm
from .imports import HEADER, import_channels
from .inputs import valid_epg_source_name
from .models import Channel, EpgSource, FreePackage, LogoSize, Package, PackageChannel

PICKER_LIMIT = 50  # channels offered at once by a package's picker; the search narrows them


class ContentAdminMixin(FlagRequiredMixin):
    required_permission = "isContentAdmin"


# --- Channels ---------------------------------------------------------------------------------------------


def _names(items) -> str:
    return ", ".join(item.name for item in items)


class ChannelListView(PortalListView):
    """Channels by number with logo thumbnails, categories, locations and packages; ``?search=``, ``?packageId=``,
    ``?categoryId=`` and ``?locationId=`` (ChannelFilter; each by ID or name)."""

    template_name = "content/channel_list.html"
    section = "channels"
    filterset_class = ChannelFilter
    filter_names = ("search", "packageId", "categoryId", "locationId", "number")
    filter_labels = {"packageId": _("Package"), "search": _("Search"), "categoryId": _("Category"), "locationId": _("Location"),
                     "number": _("Number")}
    name_filters = {"packageId": (selectors.packages_named, "a package name or ID"),
                    "categoryId": (selectors.categories_named, "a category name, title or ID"),
                    "locationId": (selectors.locations_named, "a location name, title or ID")}
    columns = [
        Column(""),
        Column(_("Number"), sort="number_order", csv=lambda row: row.number),
        Column(_("Title"), sort="title", csv=lambda row: row.title),
        Column(_("Technical name"), sort="name", csv=lambda row: row.name),
        Column(_("Categories"), csv=lambda row: "|".join(link.category.title for link in row.category_links.all())),
        Column(_("Locations"), csv=lambda row: "|".join(link.location.title for link in row.location_links.all())),
        Column(_("Packages"), csv=lambda row: _names(row.packages.all())),
        Column(_("EPG source"), csv=lambda row: row.epg_source_name),
        Column(_("EPG channel"), sort="epg_channel_name", csv=lambda row: row.epg_channel_name),
        Column(""),
    ]
    default_sort = "number_order"
    row_template = "content/_channel_row.html"
    csv_filename = "channels.csv"

    def get_queryset(self):
        return selectors.channels_for(self.portal)

    def decorate_rows(self, rows: list) -> list:
        return mark_epg_today(rows)  # every source of each channel's guide, its offset applied: one query

    @staticmethod
    def ordering_for(sort: str) -> tuple[str, ...]:
        """By number (channels without one last) then title, as the API lists them; other columns as usual."""
        if sort.lstrip("-") == "number_order":
            return tuple(f"-{field}" if sort.startswith("-") else field for field in selectors.CHANNEL_ORDER)
        return PortalListView.ordering_for(sort)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET
        context.update(
            packages=selectors.package_choices(self.portal),
            categories=selectors.category_choices(self.portal),
            locations=selectors.location_choices(self.portal),
            search=query.get("search", ""),
            package_id=query.get("packageId", ""),
            category_id=query.get("categoryId", ""),
            location_id=query.get("locationId", ""),
            filtered=any(query.get(name) for name in self.filter_names),
        )
        return context


class ChannelLogoView(PortalMixin, View):
    """A channel's logo: ``?size=small`` (the default, for lists), ``medium`` or ``large`` its rendition, ``full``
    the stored image; served like the API's ``/channels/{id}/logo[/{size}]``."""

    def get(self, request, channel_id):
        size = request.GET.get("size", LogoSize.SMALL)
        if size != "full" and size not in LogoSize.values:
            raise Http404
        # The original's bytes are read only when they are served.
        channel = self.get_portal_object(Channel.objects.defer("logo"), channel_id)
        if not channel.logo_etag:
            raise Http404
        return logo_response(request, channel, None if size == "full" else size)


EPG_NAME_SUGGESTIONS = 100  # EPG channel IDs the channel form offers at once; typing narrows them


def epg_name_suggestions(portal, source_name: str, typed: str) -> dict:
    """The EPG channel IDs of the portal's source ``source_name`` that contain ``typed`` (any case), at most
    ``EPG_NAME_SUGGESTIONS``, and the hint the form shows under the field."""
    # A name no source can have (``%00`` among them: PostgreSQL refuses NUL in a query) is not looked up.
    source = EpgSource.objects.for_portal(portal).filter(name=source_name).first() \
        if valid_epg_source_name(source_name) else None
    if source is None:
        return {"source": "", "names": [], "hint": ""}
    names = epg_selectors.epg_channel_names(source)
    needle = typed.strip().lower()
    found = [name for name in names if needle in name.lower()] if needle else names
    count = f"{len(names)} EPG channel ID{pluralize(len(names))} in {source.name}"
    if not names:
        hint = f"{source.name} has no programmes yet, so no EPG channel IDs to suggest."
    elif not needle:
        hint = f"{count}: type to search them."
    else:
        hint = f"{len(found)} of {count} contain “{typed.strip()}”."
    if len(found) > EPG_NAME_SUGGESTIONS:
        hint += f" The first {EPG_NAME_SUGGESTIONS} are offered; type more to narrow them."
    return {"source": source.name, "names": found[:EPG_NAME_SUGGESTIONS], "hint": hint}


class ChannelFormMixin:
    """Create and edit: a service refusal goes on the form, with the API's status code.

    The EPG channel name field offers the IDs found in the chosen EPG source: an htmx request of this page
    (``?epg_source=&epg_channel_name=``, sent when the source changes and while typing) gets only that block,
    ``content/epg_channel_names.html``.
    """

    template_name = "content/channel_form.html"
    suggestions_template_name = "content/epg_channel_names.html"
    section = "channels"
    channel = None

    def get(self, request, *args, **kwargs):
        if request.htmx:
            suggestions = epg_name_suggestions(self.portal, request.GET.get("epg_source", ""),
                                               request.GET.get("epg_channel_name", ""))
            return live_block_response(request, self.response_class(
                request, [self.suggestions_template_name], {"epg_names": suggestions}, using=self.template_engine))
        return live_block_response(request, super().get(request, *args, **kwargs))

    def render_to_response(self, context, **response_kwargs):
        form = context["form"]
        context["epg_names"] = epg_name_suggestions(self.portal, form["epg_source"].value() or "",
                                                    form["epg_channel_name"].value() or "")
        return super().render_to_response(context, **response_kwargs)

    def save(self, form) -> Channel:
        raise NotImplementedError

    def submit(self, form):
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            channel = self.save(form)
        except ServiceError as exc:
            return form_refused(self, form, exc)
        messages.success(self.request, _("Channel %(name)s saved.") % {"name": channel.name})
        for warning in epg_mapping.epg_warnings(channel):
            messages.warning(self.request, warning)
        return redirect("content:channel-list")


class ChannelCreateView(ContentAdminMixin, ChannelFormMixin, TemplateView):
    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = form or ChannelForm(portal=self.portal)
        return context

    def post(self, request):
        return self.submit(ChannelForm(request.POST, request.FILES, portal=self.portal))

    def save(self, form) -> Channel:
        return services.create_channel(self.portal, caller=self.caller, data=form.service_data())


class ChannelEditView(PortalMixin, ChannelFormMixin, TemplateView):
    """The channel page: everyone reads it; ``can_manage_content`` saves it."""

    @cached_property
    def channel(self) -> Channel:
        return self.get_portal_object(Channel.objects.select_related("epg_source").defer("logo"),
                                      self.kwargs["channel_id"])

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = form or ChannelForm(portal=self.portal, channel=self.channel,
                                              read_only=not self.caller.can_manage_content)
        context["channel"] = self.channel
        context["channel_packages"] = self.channel.packages.order_by("name").only("id", "name")
        context["schedule_day"] = timezone.localdate()
        context["schedule"] = epg_selectors.channel_day_schedule(self.channel, context["schedule_day"],
                                                                 timezone.get_current_timezone())
        return context

    def post(self, request, channel_id):
        if not self.caller.can_manage_content:
            return forbidden(request, requires_sentence("isContentAdmin", "Changing channels"))
        return self.submit(ChannelForm(request.POST, request.FILES, portal=self.portal, channel=self.channel))

    def save(self, form) -> Channel:
        return services.update_channel(self.channel, caller=self.caller, data=form.service_data())


class ChannelDeleteView(ContentAdminMixin, TemplateView):
    """Confirmation naming the packages the channel leaves, then ``services.delete_channel``."""

    template_name = "content/channel_delete.html"
    section = "channels"

    @cached_property
    def channel(self) -> Channel:
        return self.get_portal_object(Channel.objects.defer("logo"), self.kwargs["channel_id"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["channel"] = self.channel
        context["package_names"] = list(self.channel.packages.order_by("name").values_list("name", flat=True))
        return context

    def post(self, request, channel_id):
        channel = self.channel
        try:
            left = services.delete_channel(channel, caller=self.caller)
        except ServiceError as exc:
            return self.render_to_response(self.get_context_data(error=exc.message), status=exc.status)
        suffix = ngettext("; it left %(count)d package: %(names)s", "; it left %(count)d packages: %(names)s",
                          len(left)) % {"count": len(left), "names": ", ".join(left)} if left else ""
        messages.success(request, _("Channel %(name)s deleted%(suffix)s.") % {"name": channel.name, "suffix": suffix})
        return redirect("content:channel-list")


# --- Packages ---------------------------------------------------------------------------------------------


def packages_with_usage(portal):
    """``packages_for`` plus a subscriber count, as one subquery per list (no join blow-up, no N+1)."""
    # ``subscriptions`` is declared by the subscribers app, above content in the layers: counted through that
    # reverse relation, from a correlated subquery on the package itself, never by importing Subscription.
    subscribers = (Package.objects.filter(pk=OuterRef("pk")).order_by()
                   .values("pk").annotate(n=Count("subscriptions")).values("n"))
    return (selectors.packages_for(portal)
            .prefetch_related(None)  # the list shows counts, not channel names
            .annotate(subscriber_count=Coalesce(Subquery(subscribers, output_field=IntegerField()), Value(0))))


class PackageListView(PortalListView):
    """Packages by name with channel and subscriber counts and the free badge; ``?search=`` (PackageFilter)."""

    template_name = "content/package_list.html"
    section = "packages"
    filterset_class = PackageFilter
    filter_names = ("search", "name")
    columns = [
        Column(_("Name"), sort="name", csv=lambda row: row.name),
        Column(_("Description"), csv=lambda row: row.description),
        Column(_("Channels"), csv=lambda row: row.channel_count),
        Column(_("Subscribers"), csv=lambda row: row.subscriber_count),
        Column(""),
    ]
    default_sort = "name"
    row_template = "content/_package_row.html"
    csv_filename = "packages.csv"

    def get_queryset(self):
        return packages_with_usage(self.portal)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "search": self.request.GET.get("search", "")}


class PackageCreateView(ContentAdminMixin, TemplateView):
    template_name = "content/package_form.html"
    section = "packages"

    def get_context_data(self, form=None, **kwargs):
        return {**super().get_context_data(**kwargs), "form": form or PackageForm()}

    def post(self, request):
        form = PackageForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            package = services.create_package(self.portal, caller=self.caller, data=form.service_data())
        except ServiceError as exc:
            return form_refused(self, form, exc)
        messages.success(request, _("Package %(name)s created. Add its channels below.") % {"name": package.name})
        return redirect("content:package-detail", package_id=package.public_id)


class PackageObjectMixin:
    @cached_property
    def package(self) -> Package:
        return self.get_portal_object(Package.objects.select_related("portal", "free_link"),
                                      self.kwargs["package_id"])


class PackageDetailView(PortalMixin, PackageObjectMixin, TemplateView):
    """The package page: its name and description, its channels, and the picker that adds more."""

    template_name = "content/package_detail.html"
    section = "packages"

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        package = self.package
        writer = self.caller.can_manage_content
        members = (Channel.objects.filter(package_links__package=package).order_by("title", "id")
                   .only("id", "name", "title", "logo_etag"))
        subscriber_count, is_free = services.package_usage(package)
        context.update(
            package=package,
            form=form or PackageForm(package=package, read_only=not writer),
            members=members,
            subscriber_count=subscriber_count,
            is_free=is_free,
            q=self.request.GET.get("q", ""),
        )
        if writer:
            context.update(self.picker(package, context["q"]))
        return context

    def picker(self, package, q: str) -> dict:
        """Up to PICKER_LIMIT channels not yet in the package, matching ``q`` like the channel search."""
        candidates = ChannelFilter(
            {"search": q},
            queryset=Channel.objects.for_portal(self.portal)
            .exclude(id__in=PackageChannel.objects.filter(package=package).values("channel_id"))
            .only("id", "name", "title", "logo_etag"),
        ).qs.order_by("title", "id")
        rows = list(candidates[: PICKER_LIMIT + 1])
        return {"candidates": rows[:PICKER_LIMIT], "more_candidates": len(rows) > PICKER_LIMIT}

    def post(self, request, package_id):
        if not self.caller.can_manage_content:
            return forbidden(request, requires_sentence("isContentAdmin", "Changing packages"))
        form = PackageForm(request.POST, package=self.package)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            package = services.update_package(self.package, caller=self.caller, data=form.service_data())
        except ServiceError as exc:
            return form_refused(self, form, exc)
        messages.success(request, _("Package %(name)s saved.") % {"name": package.name})
        return redirect("content:package-detail", package_id=package.public_id)


class PackageChannelView(ContentAdminMixin, PackageObjectMixin, View):
    """POST: add (``channel`` in the form) or remove (``channel_id`` in the path) a channel of the package."""

    http_method_names = ["post"]
    remove = False

    def post(self, request, package_id, channel_id=None):
        package = self.package
        channel = self.get_portal_object(Channel.objects.defer("logo"),
                                         channel_id or request.POST.get("channel", ""))
        q = request.POST.get("q", "")
        url = (reverse("content:package-detail", kwargs={"package_id": package.public_id})
               + ("?" + urlencode({"q": q}) if q else "") + "#picker")
        try:
            if self.remove:
                services.remove_channel_from_package(package, channel, caller=self.caller)
                messages.success(request, _("%(title)s removed from %(name)s.") % {"title": channel.title, "name": package.name})
            else:
                services.add_channel_to_package(package, channel, caller=self.caller)
                messages.success(request, _("%(title)s added to %(name)s.") % {"title": channel.title, "name": package.name})
        except ServiceError as exc:
            return action_refused(request, exc, url)
        return redirect(url)


class PackageDeleteView(ContentAdminMixin, PackageObjectMixin, TemplateView):
    """Confirmation; a package in use is explained (subscribers, free) and can be deleted anyway (force)."""

    template_name = "content/package_delete.html"
    section = "packages"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        subscriber_count, is_free = services.package_usage(self.package)
        context.update(package=self.package, subscriber_count=subscriber_count, is_free=is_free,
                       in_use=bool(subscriber_count or is_free))
        return context

    def post(self, request, package_id):
        package = self.package
        force = request.POST.get("force") == "1"
        try:
            ended = services.delete_package(package, caller=self.caller, force=force)
        except ServiceError as exc:
            return self.render_to_response(self.get_context_data(error=exc.message), status=exc.status)
        text = f"Package {package.name} deleted."
        count = ended["subscriptionsEnded"]
        if count:
            text += f" {count} subscription{'s' if count != 1 else ''} ended."
        if ended["wasFree"]:
            text += " It is no longer a free package."
        messages.success(request, text)
        return redirect("content:package-list")


# --- Free packages (on the portal settings screen) ----------------------------------------------------------


def free_packages_url() -> str:
    """The free packages block of the portal settings screen, where its buttons lead back."""
    return reverse("web:portal-settings") + "#free-packages"


class FreePackageAddView(FlagRequiredMixin, View):
    """POST ``package``: make it free for every subscriber (``can_manage``)."""

    http_method_names = ["post"]

    def post(self, request):
        package = self.get_portal_object(Package.objects.select_related("portal"), request.POST.get("package", ""))
        try:
            services.add_free_package(package, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, free_packages_url())
        messages.success(request, _("Package %(name)s is now free for every subscriber.") % {"name": package.name})
        return redirect(free_packages_url())


class FreePackageRemoveView(FlagRequiredMixin, PackageObjectMixin, TemplateView):
    """Confirmation, then the package stops being free."""

    template_name = "content/free_package_remove.html"
    section = "settings"

    def get_context_data(self, **kwargs):
        if not FreePackage.objects.filter(package=self.package).exists():
            raise Http404
        context = super().get_context_data(**kwargs)
        context["package"] = self.package
        context["channel_count"] = PackageChannel.objects.filter(package=self.package).count()
        return context

    def post(self, request, package_id):
        package = self.package
        try:
            services.remove_free_package(package, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, free_packages_url())
        messages.success(request, _("Package %(name)s is no longer free.") % {"name": package.name})
        return redirect(free_packages_url())


# --- Bulk import ------------------------------------------------------------------------------------------


class ChannelImportView(ContentAdminMixin, CsvImportView):
    template_name = "content/channel_import.html"
    section = "channels"
    kind = "channels"
    list_url_name = "content:channel-list"
    example_url_name = "content:channel-import-example"
    header = HEADER

    def run(self, content, *, dry_run):
        return import_channels(self.portal, content, caller=self.caller, dry_run=dry_run)

    def applied_message(self, report) -> str:
        return f"Import done: {report.created} channels created, {report.updated} updated."

    def counts(self, report) -> str:
        return f"{report.created} channels to create, {report.updated} to update"


EXAMPLE_CHANNELS_CSV = (
    f"{HEADER}\r\n"
    "news24,News 24,,,basic\r\n"
    "sport-1,Sport One,,,basic|sport\r\n"
)


class ChannelImportExampleView(PortalMixin, View):
    def get(self, request):
        return csv_download(EXAMPLE_CHANNELS_CSV, "channels-example.csv")

