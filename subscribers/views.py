"""Screens of subscribers: the list with bulk actions, the subscriber card, create/edit/delete, the import.

Everyone reads; ``can_manage_subscribers`` writes, and only they see playback tokens. Every change goes
through ``subscribers.services``; a refusal is shown as the service phrased it.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property

from django.contrib import messages
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView

from catena_site.csvfiles import csv_download
from catena_site.errors import Invalid, ServiceError
from catena_site.lists import Column, PortalListView
from catena_site.web import (
    CsvImportView,
    FlagRequiredMixin,
    PortalMixin,
    action_refused,
    filter_params,
    forbidden,
    form_refused,
    service_error_page,
)
from content import selectors as content_selectors
from content.models import Package

from . import devices, selectors, services, sms_login
from .access import watchable_channels
from .client_sessions import AppSession
from .filters import SubscriberFilter
from .forms import DeviceForm, SubscriberForm
from .imports import HEADER, import_subscribers
from .inputs import BulkExtendInput, BulkSubscriptionInput
from .models import Device, Subscriber, Subscription
from .selectors import subscribers_for

APP_SESSIONS_SHOWN = 50
REMINDERS_SHOWN = 20
REMINDER_COLUMNS = ["Sent", "Package", "Period ends", "To", "Message"]
APP_SESSION_COLUMNS = ["Device", "IP address", "Logged in", "Last seen", "Expires"]
FILTER_LABELS = {"packageId": "Package", "disabled": "Status", "search": "Search", "phone": "Phone",
                 "expiresWithinDays": "Expiry", "expiresBefore": "Ends before", "expired": "Expired"}
FILTER_PARAMS = ("search", "phone", "packageId", "disabled", "expiresWithinDays", "expiresBefore", "expired")
EXPIRING_SOON_DAYS = 7  # the list's "expiring within 7 days": a row whose soonest end is this close is marked
DEVICE_COLUMNS = ["Name", "Kind", "Identity", "Last seen", "Last IP", ""]


class SubscriberAdminMixin(FlagRequiredMixin):
    required_permission = "isSubscriberAdmin"


class SubscriberObjectMixin:
    @cached_property
    def subscriber(self) -> Subscriber:
        return self.get_portal_object(Subscriber.objects.select_related("portal"), self.kwargs["subscriber_id"])

    def card_url(self) -> str:
        return reverse("subscribers:card", kwargs={"subscriber_id": self.subscriber.public_id})


def filter_query(query: QueryDict) -> QueryDict:
    """Only the SubscriberFilter parameters of a query string, blanks dropped."""
    return filter_params(query, FILTER_PARAMS)


# --- List and bulk actions ----------------------------------------------------------------------------------


class SubscriberListView(PortalListView):
    """Newest first; search by name or phone, filter by package (ID or name) and status (SubscriberFilter)."""

    template_name = "subscribers/subscriber_list.html"
    section = "subscribers"
    filterset_class = SubscriberFilter
    filter_names = FILTER_PARAMS
    filter_labels = FILTER_LABELS
    name_filters = {"packageId": (content_selectors.packages_named, "a package name or ID")}
    columns = [
        Column(_("Name"), sort="name", csv=lambda row: row.name),
        Column(_("Phone"), sort="full_phone", csv=lambda row: f"+{row.phone_country_code} {row.phone}"),
        Column(_("Packages"), csv=lambda row: len(row.subscriptions.all())),
        Column(_("Expires"), csv=lambda row: row.soonest_expiry.isoformat() if row.soonest_expiry else ""),
        Column(_("Last activity"), csv=lambda row: row.last_activity_at.isoformat() if row.last_activity_at else ""),
        Column(_("Status"), csv=lambda row: "blocked" if row.disabled else "active"),
        Column(""),
    ]
    default_sort = "-id"
    row_template = "subscribers/_subscriber_row.html"
    csv_filename = "subscribers.csv"

    def get_queryset(self):
        return subscribers_for(self.portal)

    def decorate_rows(self, rows: list) -> list:
        """Each row's soonest end among its subscriptions in force (``Expires``), and whether it is near."""
        now = timezone.now()
        soon = now + dt.timedelta(days=EXPIRING_SOON_DAYS)
        for row in rows:
            row.soonest_expiry = selectors.soonest_expiry(row, now)
            row.expiring_soon = row.soonest_expiry is not None and row.soonest_expiry < soon
        return rows

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = filter_query(self.request.GET)
        total = context["total"]
        context.update(
            # "all N matching the current filter" for the bulk actions, which read the same (resolved) filter
            matching=total.value if total and self.caller.can_manage_subscribers else None,
            matching_exact=bool(total and total.exact),
            packages=list(content_selectors.package_choices(self.portal)),
            selected={name: self.request.GET.get(name, "") for name in FILTER_PARAMS},
            filtered=bool(query),
            query=self.resolve_names(query)[0].urlencode(),
        )
        return context


class BulkSelectionError(Exception):
    pass


class BulkSelectionMixin:
    def selection(self, values: dict):
        """(IDs or a queryset, description) of the chosen subscribers."""
        if values["all_matching"]:
            filterset = SubscriberFilter(filter_query(QueryDict(values.get("query", ""))),
                                         queryset=Subscriber.objects.for_portal(self.portal))
            if not filterset.is_valid():
                raise BulkSelectionError("The list's filter is not valid any more; filter the list again.")
            return filterset.qs, gettext("all subscribers matching the filter")
        return values["ids"], gettext("the selected subscribers")


class SubscriberBulkView(SubscriberAdminMixin, BulkSelectionMixin, TemplateView):
    """POST from the list: a confirmation saying how many subscribers change; with ``confirm`` it applies.

    The selection is either ``ids`` (checked rows) or ``all_matching`` with the list's filter ``query``.
    """

    template_name = "subscribers/bulk_confirm.html"
    section = "subscribers"
    http_method_names = ["post"]

    def post(self, request):
        post = request.POST
        back = reverse("subscribers:list") + ("?" + post["query"] if post.get("query") else "")
        try:
            values = BulkSubscriptionInput.check(post)
        except Invalid as exc:  # every refusal at once: action, package and selection
            for reasons in exc.errors.values():
                for reason in reasons:
                    messages.error(request, reason)
            return redirect(back)
        package = self.get_portal_object(Package.objects.select_related("portal"), post["package"])
        try:
            subscribers, described = self.selection(values)
        except BulkSelectionError as exc:
            messages.error(request, str(exc))
            return redirect(back)
        action = values["action"]
        adding = action == "subscribe"
        if post.get("confirm") == "1":
            apply = services.bulk_subscribe if adding else services.bulk_unsubscribe
            try:
                changed = apply(self.portal, subscribers, package, caller=self.caller)
            except ServiceError as exc:
                return service_error_page(request, exc)
            if adding:
                text = ngettext("%(count)d subscriber now has package %(name)s.",
                                "%(count)d subscribers now have package %(name)s.", changed)
            else:
                text = ngettext("%(count)d subscriber no longer has package %(name)s.",
                                "%(count)d subscribers no longer have package %(name)s.", changed)
            messages.success(request, text % {"count": changed, "name": package.name})
            return redirect(back)
        targets = (services.bulk_subscribe_targets if adding else services.bulk_unsubscribe_targets)(
            self.portal, subscribers, package)
        chosen = Subscriber.objects.for_portal(self.portal).filter(id__in=subscribers) \
            if isinstance(subscribers, list) else subscribers
        selected = chosen.count()
        changing = targets.count()
        return self.render_to_response(self.get_context_data(
            package=package, adding=adding, described=described, selected=selected, changing=changing,
            unchanged=selected - changing, hidden=[(key, value) for key in ("action", "package", "all_matching",
                                                                              "query", "ids")
                                                   for value in post.getlist(key)],
            back=back,
        ))


def extension_words(amount: int, unit: str) -> str:
    """``1 month``, ``3 months``, ``1 day``… in the screens' language."""
    if unit == "days":
        return ngettext("%(count)d day", "%(count)d days", amount) % {"count": amount}
    return ngettext("%(count)d month", "%(count)d months", amount) % {"count": amount}


class SubscriberExtendView(SubscriberAdminMixin, BulkSelectionMixin, TemplateView):
    """"Extend by N days/months": POST from the list (``ids`` or ``all_matching`` with ``query``) or from a card
    (the URL names the subscriber). First a counted confirmation ("Extend 37 subscriptions by 1 month?", saying
    how many without an end stay open); with ``confirm`` the extension, in one transaction."""

    template_name = "subscribers/extend_confirm.html"
    section = "subscribers"
    http_method_names = ["post"]

    def back_url(self) -> str:
        if "subscriber_id" in self.kwargs:
            return reverse("subscribers:card", kwargs={"subscriber_id": self.kwargs["subscriber_id"]}) + "#packages"
        query = self.request.POST.get("query")
        return reverse("subscribers:list") + ("?" + query if query else "")

    @cached_property
    def subscriber(self) -> Subscriber | None:
        """The subscriber of the card the extension comes from (another portal's: 404), or None from the list."""
        if "subscriber_id" not in self.kwargs:
            return None
        return self.get_portal_object(Subscriber.objects.all(), self.kwargs["subscriber_id"])

    def chosen(self, values: dict):
        """(IDs or a queryset, description) of the subscribers whose subscriptions are extended."""
        if self.subscriber is not None:
            return [self.subscriber.id], self.subscriber.name
        return self.selection(values)

    def post(self, request, **kwargs):
        back = self.back_url()
        data = request.POST.copy()
        if self.subscriber is not None:
            data.setlist("ids", [self.subscriber.public_id])
        try:
            values = BulkExtendInput.check(data)
            subscribers, described = self.chosen(values)
        except Invalid as exc:
            for reasons in exc.errors.values():
                for reason in reasons:
                    messages.error(request, reason)
            return redirect(back)
        except BulkSelectionError as exc:
            messages.error(request, str(exc))
            return redirect(back)
        amount, unit = values["amount"], values["unit"]
        length = {"days": amount} if unit == "days" else {"months": amount}
        words = extension_words(amount, unit)
        if request.POST.get("confirm") == "1":
            try:
                extended = services.extend_subscriptions(self.portal, subscribers, caller=self.caller, **length)
            except ServiceError as exc:
                return action_refused(request, exc, back)
            messages.success(request, ngettext("%(count)d subscription extended by %(words)s.",
                                               "%(count)d subscriptions extended by %(words)s.", extended)
                             % {"count": extended, "words": words})
            return redirect(back)
        changing, open_ended = services.extension_targets(self.portal, subscribers)
        return self.render_to_response(self.get_context_data(
            words=words, described=described, changing=changing.count(), open_ended=open_ended.count(),
            subscribers=services.chosen_subscribers(self.portal, subscribers).count(), back=back,
            hidden=[(key, value) for key in ("amount", "unit", "all_matching", "query", "ids")
                    for value in request.POST.getlist(key)],
        ))


# --- Create, card, edit, delete -----------------------------------------------------------------------------


class SubscriberFormView(TemplateView):
    template_name = "subscribers/subscriber_form.html"
    section = "subscribers"
    subscriber = None

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = form or SubscriberForm(subscriber=self.subscriber)
        context["subscriber"] = self.subscriber
        return context

    def save(self, form) -> Subscriber:
        raise NotImplementedError

    def post(self, request, **kwargs):
        form = SubscriberForm(request.POST, subscriber=self.subscriber)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            subscriber = self.save(form)
        except ServiceError as exc:
            return form_refused(self, form, exc)
        messages.success(request, _("Subscriber %(name)s saved.") % {"name": subscriber.name})
        return redirect("subscribers:card", subscriber_id=subscriber.public_id)


class SubscriberCreateView(SubscriberAdminMixin, SubscriberFormView):
    def save(self, form) -> Subscriber:
        return services.create_subscriber(self.portal, caller=self.caller, data=form.service_data())


class SubscriberEditView(SubscriberAdminMixin, SubscriberObjectMixin, SubscriberFormView):
    def save(self, form) -> Subscriber:
        return services.update_subscriber(self.subscriber, caller=self.caller, data=form.service_data())


def playlist_urls(request, subscriber) -> tuple[str, str]:
    """The subscriber's M3U playlist address for players such as VLC, and the same masked like the token."""
    start = request.build_absolute_uri("/tv/api/v1/playlist.m3u?token=")
    token = subscriber.playback_token
    return start + token, start + "••••••••••••••••" + token[-4:]


class SubscriberCardView(PortalMixin, SubscriberObjectMixin, TemplateView):
    """Details, packages (subscribed and free), playback token and playlist, app sessions, block.

    The recent play sessions and operations below them are monitoring's: the template draws them with the
    ``monitoring_blocks`` tags, so this domain app imports nothing of monitoring's screens.
    """

    template_name = "subscribers/subscriber_card.html"
    section = "subscribers"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        subscriber = self.subscriber
        subscriptions = list(Subscription.objects.filter(subscriber=subscriber)
                             .select_related("package", "package__free_link").order_by("package__name"))
        subscribed = {s.package_id for s in subscriptions}
        free = list(Package.objects.for_portal(self.portal).filter(free_link__isnull=False).order_by("name"))
        free_ids = {p.id for p in free}
        now = timezone.now()
        for subscription in subscriptions:
            subscription.state = selectors.subscription_state(subscription, now)
        reminders = subscriber.expiry_reminders.select_related("package")
        context.update(
            subscriber=subscriber,
            reminders=list(reminders[:REMINDERS_SHOWN]),
            reminders_total=reminders.count(),
            reminder_columns=REMINDER_COLUMNS,
            subscriptions=[(s, s.package_id in free_ids) for s in subscriptions],
            free_packages=[p for p in free if p.id not in subscribed],
            addable=[p for p in content_selectors.package_choices(self.portal) if p.id not in subscribed and p.id not in free_ids],
            watchable_count=watchable_channels(subscriber).count(),
            sharing=selectors.sharing_suspicion(subscriber),
            **self.app_sessions(subscriber),
            **device_context(subscriber, kwargs.get("device_form")),
        )
        if self.caller.can_see_playback_tokens:
            context["playlist_url"], context["playlist_url_masked"] = playlist_urls(self.request, subscriber)
        return context

    @staticmethod
    def app_sessions(subscriber) -> dict:
        """The subscriber's app logins, last seen first (expired ones too, until they are cleaned up)."""
        sessions = AppSession.objects.filter(subscriber=subscriber)
        shown = list(sessions.order_by("-last_seen_at", "-id")[:APP_SESSIONS_SHOWN])
        total = len(shown) if len(shown) < APP_SESSIONS_SHOWN else sessions.count()
        return {"app_sessions": shown, "app_sessions_hidden": total - len(shown),
                "app_session_columns": APP_SESSION_COLUMNS, "now": timezone.now()}


def device_context(subscriber, form=None) -> dict:
    """The card's devices block: the devices, the limit that applies and the form to add a set-top box."""
    limit, policy, registration = devices.limits_of(subscriber)
    return {"devices": list(Device.objects.filter(subscriber=subscriber).order_by("id")), "device_limit": limit,
            "device_limit_policy": policy, "device_registration": registration,
            "device_columns": DEVICE_COLUMNS, "device_form": form or DeviceForm()}


class SubscriberDeleteView(SubscriberAdminMixin, SubscriberObjectMixin, TemplateView):
    template_name = "subscribers/subscriber_delete.html"
    section = "subscribers"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["subscriber"] = self.subscriber
        context["subscription_count"] = Subscription.objects.filter(subscriber=self.subscriber).count()
        return context

    def post(self, request, subscriber_id):
        subscriber = self.subscriber
        try:
            services.delete_subscriber(subscriber, caller=self.caller)
        except ServiceError as exc:
            return self.render_to_response(self.get_context_data(error=exc.message), status=exc.status)
        messages.success(request, _("Subscriber %(name)s (%(international_phone)s) deleted.") % {"name": subscriber.name, "international_phone": subscriber.international_phone})
        return redirect("subscribers:list")


# --- Card actions -------------------------------------------------------------------------------------------


class SubscriberPackageAddView(SubscriberAdminMixin, SubscriberObjectMixin, View):
    """POST ``package``: subscribe the subscriber to it."""

    http_method_names = ["post"]

    def post(self, request, subscriber_id):
        url = self.card_url() + "#packages"
        if not request.POST.get("package"):
            messages.error(request, _("Choose a package to add."))
            return redirect(url)
        package = self.get_portal_object(Package.objects.select_related("portal"), request.POST["package"])
        try:
            services.subscribe(self.subscriber, package, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, url)
        messages.success(request, _("Package %(name)s added.") % {"name": package.name})
        return redirect(url)


class SubscriberPackageRemoveView(SubscriberAdminMixin, SubscriberObjectMixin, TemplateView):
    """Confirmation, then the subscription ends."""

    template_name = "subscribers/package_remove.html"
    section = "subscribers"

    @cached_property
    def package(self) -> Package:
        return self.get_portal_object(Package.objects.select_related("portal"), self.kwargs["package_id"])

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "subscriber": self.subscriber, "package": self.package,
                "cancel_url": self.card_url() + "#packages"}

    def post(self, request, subscriber_id, package_id):
        url = self.card_url() + "#packages"
        try:
            services.unsubscribe(self.subscriber, self.package, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, url)
        messages.success(request, _("Package %(name)s removed.") % {"name": self.package.name})
        return redirect(url)


class SubscriberDeviceAddView(SubscriberAdminMixin, SubscriberObjectMixin, View):
    """POST ``mac`` and ``name``: add a set-top box; a refusal shows the card again with the form's errors."""

    http_method_names = ["post"]

    def post(self, request, subscriber_id):
        form = DeviceForm(request.POST)
        form.is_valid()
        data = {"subscriberId": self.subscriber.public_id, "kind": Device.Kind.STB, "mac": form.cleaned_data["mac"],
                "name": form.cleaned_data["name"]}
        try:
            device = devices.add_device(self.portal, caller=self.caller, data=data)
        except ServiceError as exc:
            return device_form_refused(self, request, form, exc)
        messages.success(request, _("Set-top box %(mac)s added.") % {"mac": device.mac})
        return redirect(self.card_url() + "#devices")


def device_form_refused(view, request, form, exc: ServiceError):
    """The card again, the add form showing why (a field's reason under it, anything else above it)."""
    for field, reasons in exc.errors.items():
        target = DeviceForm.SERVICE_FIELDS.get(field)
        for reason in reasons:
            form.add_error(target, reason)
    if not exc.errors:
        form.add_error(None, exc.message)
    card = SubscriberCardView(request=request, kwargs=view.kwargs)
    card.setup(request, **view.kwargs)
    return card.render_to_response(card.get_context_data(device_form=form), status=exc.status)


class SubscriberDeviceMixin(SubscriberAdminMixin, SubscriberObjectMixin):
    @cached_property
    def device(self) -> Device:
        device = self.get_portal_object(Device.objects.all(), self.kwargs["device_id"])
        if device.subscriber_id != self.subscriber.id:  # another subscriber's: as if there were none
            raise Http404
        return device


class SubscriberDeviceRenameView(SubscriberDeviceMixin, View):
    """POST ``name``: the device's new name (blank: none)."""

    http_method_names = ["post"]

    def post(self, request, subscriber_id, device_id):
        url = self.card_url() + "#devices"
        try:
            device = devices.rename_device(self.device, caller=self.caller, data={"name": request.POST.get("name", "")})
        except ServiceError as exc:
            return action_refused(request, exc, url)
        messages.success(request, _("Device renamed to %(name)s.") % {"name": device.name} if device.name
                         else _("Device name removed."))
        return redirect(url)


class SubscriberDeviceRemoveView(SubscriberDeviceMixin, TemplateView):
    """Confirmation, then the device is removed (``removeDevice``)."""

    template_name = "subscribers/device_remove.html"
    section = "subscribers"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "subscriber": self.subscriber, "device": self.device,
                "device_label": str(self.device), "cancel_url": self.card_url() + "#devices"}

    def post(self, request, subscriber_id, device_id):
        url = self.card_url() + "#devices"
        try:
            devices.remove_device(self.device, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, url)
        messages.success(request, _("Device %(device)s removed.") % {"device": self.device})
        return redirect(url)


class SubscriberBlockView(SubscriberAdminMixin, SubscriberObjectMixin, View):
    """POST ``disabled=1`` blocks, ``disabled=0`` unblocks; subscriptions are kept."""

    http_method_names = ["post"]

    def post(self, request, subscriber_id):
        disabled = request.POST.get("disabled") == "1"
        try:
            subscriber = services.set_disabled(self.subscriber, disabled, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, self.card_url())
        state = _("blocked: they can watch nothing until unblocked") if disabled else _("active again")
        messages.success(request, _("%(name)s is %(state)s.") % {"name": subscriber.name, "state": state})
        return redirect(self.card_url())


class SubscriberTokenResetView(SubscriberAdminMixin, SubscriberObjectMixin, TemplateView):
    """Confirmation, then a new playback token; the old one stops working at once."""

    template_name = "subscribers/token_reset.html"
    section = "subscribers"

    def dispatch(self, request, *args, **kwargs):
        caller = getattr(request, "caller", None)
        if caller is not None and not caller.can_see_playback_tokens:
            return forbidden(request, "Playback tokens require the isSubscriberAdmin permission.")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "subscriber": self.subscriber,
                "cancel_url": self.card_url() + "#token"}

    def post(self, request, subscriber_id):
        try:
            services.reset_playback_token(self.subscriber, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, self.card_url())
        messages.success(request, _("A new playback token was issued. The previous token no longer works."))
        return redirect(self.card_url() + "#token")


class SubscriberPlayerPasswordResetView(SubscriberTokenResetView):
    """Confirmation, then a new player password (players.md §2); the old one stops working at once. Allowed to
    those who see playback tokens, as the token's reset."""

    template_name = "subscribers/player_password_reset.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "cancel_url": self.card_url() + "#player-password"}

    def post(self, request, subscriber_id):
        try:
            services.reset_player_password(self.subscriber, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, self.card_url())
        messages.success(request, _("A new player password was set. The previous password no longer works."))
        return redirect(self.card_url() + "#player-password")


class SubscriberAppsLogoutView(SubscriberAdminMixin, SubscriberObjectMixin, TemplateView):
    """Confirmation, then every app session of the subscriber ends: each app must log in by SMS again."""

    template_name = "subscribers/apps_logout.html"
    section = "subscribers"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "subscriber": self.subscriber,
                "cancel_url": self.card_url() + "#apps"}

    def post(self, request, subscriber_id):
        url = self.card_url() + "#apps"
        try:
            ended = sms_login.log_out_everywhere(self.subscriber, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, url)
        sessions = "1 app session" if ended == 1 else f"{ended} app sessions"
        messages.success(request, _("%(name)s was logged out of every app (%(sessions)s ended).") % {"name": self.subscriber.name, "sessions": sessions})
        return redirect(url)


# --- Bulk import --------------------------------------------------------------------------------------------


class SubscriberImportView(SubscriberAdminMixin, CsvImportView):
    template_name = "subscribers/subscriber_import.html"
    section = "subscribers"
    kind = "subscribers"
    list_url_name = "subscribers:list"
    example_url_name = "subscribers:import-example"
    header = HEADER

    def run(self, content, *, dry_run):
        return import_subscribers(self.portal, content, caller=self.caller, dry_run=dry_run)

    def applied_message(self, report) -> str:
        return f"Import done: {report.created} subscribers and {report.subscriptions} subscriptions created."

    def counts(self, report) -> str:
        return f"{report.created} subscribers and {report.subscriptions} subscriptions to create"


EXAMPLE_SUBSCRIBERS_CSV = (
    f"{HEADER}\r\n"
    "Alice Example,1,2025550143,basic,,,\r\n"
    "Bob Example,44,7700900123,basic|sport,2027-01-31,bob.example,Tv-2027-bob\r\n"
)


class SubscriberImportExampleView(PortalMixin, View):
    def get(self, request):
        return csv_download(EXAMPLE_SUBSCRIBERS_CSV, "subscribers-example.csv")
