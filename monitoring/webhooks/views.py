"""Screens of webhooks (admins only): the list, the form (creation shows the secret once), a webhook's deliveries
with "send again", deletion. Every change goes through ``monitoring.webhooks.services``."""

from __future__ import annotations

from functools import cached_property

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView, TemplateView

from catena_site.errors import ServiceError
from catena_site.lists import Column, PortalListView
from catena_site.web import FlagRequiredMixin, action_refused, form_refused
from monitoring.filters import DeliveryFilter, WebhookFilter
from monitoring.operations import Delivery, DeliveryStatus, Webhook

from . import services
from .forms import WebhookForm


class WebhookListView(FlagRequiredMixin, PortalListView):
    """The portal's webhooks, oldest first."""

    template_name = "monitoring/webhook_list.html"
    section = "webhooks"
    filterset_class = WebhookFilter
    filter_names = ("active",)
    filter_labels = {"active": _("Active")}
    columns = [
        Column(_("URL"), sort="url", csv=lambda row: row.url),
        Column(_("Operation types"), csv=lambda row: " ".join(row.types) or "all"),
        Column(_("Active"), csv=lambda row: row.active),
        Column(_("Created (UTC)"), sort="created_at", csv=lambda row: row.created_at.isoformat()),
        Column(""),
    ]
    default_sort = "id"
    row_template = "monitoring/_webhook_row.html"
    csv_filename = "webhooks.csv"

    def get_queryset(self):
        return Webhook.objects.for_portal(self.portal)


class WebhookFormMixin(FlagRequiredMixin):
    template_name = "monitoring/webhook_form.html"
    section = "webhooks"
    form_class = WebhookForm
    http_method_names = ["get", "post", "head", "options"]

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class WebhookCreateView(WebhookFormMixin, FormView):
    """Creation answers with a page showing the secret: the only time it is shown (never kept in the session)."""

    def form_valid(self, form):
        try:
            webhook = services.create_webhook(self.portal, caller=self.caller, data=form.service_data())
        except ServiceError as exc:
            return form_refused(self, form, exc)
        return render(self.request, "monitoring/webhook_created.html", {"webhook": webhook, "view": self},
                      status=201)


class WebhookEditView(WebhookFormMixin, FormView):
    @cached_property
    def webhook(self) -> Webhook:
        return self.get_portal_object(Webhook.objects.select_related("portal"), self.kwargs["webhook_id"])

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "webhook": self.webhook}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "webhook": self.webhook}

    def form_valid(self, form):
        try:
            services.update_webhook(self.webhook, caller=self.caller, data=form.service_data())
        except ServiceError as exc:
            return form_refused(self, form, exc)
        messages.success(self.request, "Webhook saved.")
        return redirect("monitoring:webhook-list")


class WebhookDeleteView(FlagRequiredMixin, TemplateView):
    """Confirmation page, then ``services.delete_webhook``."""

    template_name = "monitoring/webhook_delete.html"
    section = "webhooks"

    @cached_property
    def webhook(self) -> Webhook:
        return self.get_portal_object(Webhook.objects.select_related("portal"), self.kwargs["webhook_id"])

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "webhook": self.webhook}

    def post(self, request, webhook_id):
        try:
            services.delete_webhook(self.webhook, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, request.path)
        messages.success(request, _("Webhook %(url)s deleted.") % {"url": self.webhook.url})
        return redirect("monitoring:webhook-list")


class DeliveryListView(FlagRequiredMixin, PortalListView):
    """A webhook's deliveries, newest first, with ``?status=`` (the API's DeliveryFilter)."""

    template_name = "monitoring/webhook_deliveries.html"
    section = "webhooks"
    filterset_class = DeliveryFilter
    filter_names = ("status", "type")
    filter_labels = {"status": _("Status"), "type": _("Type")}
    columns = [
        Column(_("Queued (UTC)"), sort="id", csv=lambda row: row.created_at.isoformat()),
        Column(_("Type"), csv=lambda row: row.type),
        Column(_("Status"), csv=lambda row: row.status),
        Column(_("Attempts"), csv=lambda row: row.attempts),
        Column(_("Response"), csv=lambda row: row.last_code or ""),
        Column(_("Error"), csv=lambda row: row.last_error),
        Column(_("Next attempt (UTC)"), csv=lambda row: row.next_at.isoformat() if row.status in ("pending", "sending")
               else ""),
        Column(""),
    ]
    default_sort = "-id"
    row_template = "monitoring/_delivery_row.html"
    csv_filename = "deliveries.csv"

    @cached_property
    def webhook(self) -> Webhook:
        return self.get_portal_object(Webhook, self.kwargs["webhook_id"])

    def get_queryset(self):
        return Delivery.objects.for_portal(self.portal).filter(webhook=self.webhook)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "webhook": self.webhook,
                "status_choices": DeliveryStatus.choices, "selected_status": self.request.GET.get("status", "")}


class DeliveryResendView(FlagRequiredMixin, TemplateView):
    """"Send again": a confirmation page, then ``services.resend``."""

    template_name = "monitoring/delivery_resend.html"
    section = "webhooks"

    @cached_property
    def webhook(self) -> Webhook:
        return self.get_portal_object(Webhook, self.kwargs["webhook_id"])

    @cached_property
    def delivery(self) -> Delivery:
        return self.get_portal_object(Delivery.objects.filter(webhook=self.webhook), self.kwargs["delivery_id"])

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "webhook": self.webhook, "delivery": self.delivery}

    def post(self, request, webhook_id, delivery_id):
        delivery = self.delivery
        try:
            services.resend(delivery, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, request.path)
        messages.success(request, _("Delivery %(public_id)s will be sent again now.") % {"public_id": delivery.public_id})
        return redirect("monitoring:webhook-deliveries", webhook_id=self.webhook.public_id)
