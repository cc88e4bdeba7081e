"""Screens of categories (ordered with up/down buttons) and locations (countries and networks).

Everyone reads; ``can_manage_content`` writes. Every change goes through ``content.services``; a refusal is shown
as the service phrased it.
"""

from __future__ import annotations

from functools import cached_property

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from django.views import View
from django.views.generic import TemplateView

from catena_site.errors import ServiceError
from catena_site.lists import Column, PortalListView
from catena_site.web import FlagRequiredMixin, PortalMixin, action_refused, forbidden, form_refused
from portals.permissions import requires_sentence

from . import services
from .filters import CategoryFilter, LocationFilter
from .forms import CategoryForm, LocationForm
from .models import Category, Location


class ContentAdminMixin(FlagRequiredMixin):
    required_permission = "isContentAdmin"


class ObjectFormView(PortalMixin, TemplateView):
    """Create (no ``object_kwarg`` in the path, content admins only) or show and edit one object (everyone
    reads, content admins save). Subclasses name the form, the services and the list to return to."""

    form_class = None
    model = None
    object_kwarg = ""
    what = ""  # the form's keyword for the object
    what_label = ""  # the object's kind on the screen: "Category News", and in "Add category" (accusative)
    what_object = ""
    list_url_name = ""
    delete_url_name = ""
    create = False

    @cached_property
    def object(self):
        return None if self.create else self.get_portal_object(self.model, self.kwargs[self.object_kwarg])

    def dispatch(self, request, *args, **kwargs):
        caller = getattr(request, "caller", None)
        if self.create and caller is not None and not caller.can_manage_content:
            return forbidden(request, requires_sentence("isContentAdmin", "This page"))
        return super().dispatch(request, *args, **kwargs)

    def make_form(self, *args, **kwargs):
        return self.form_class(*args, **{self.what: self.object}, **kwargs)

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        read_only = not self.caller.can_manage_content
        context.update(form=form or self.make_form(read_only=read_only), object=self.object, what=self.what_label, what_object=self.what_object,
                       list_url=reverse(self.list_url_name), read_only=read_only)
        if self.object is not None:
            context["delete_url"] = reverse(self.delete_url_name, args=[self.object.public_id])
        return context

    def post(self, request, **kwargs):
        if not self.caller.can_manage_content:
            return forbidden(request, requires_sentence("isContentAdmin", f"Changing {self.what.replace('_', ' ')}s"))
        form = self.make_form(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            obj = self.save(form.service_data())
        except ServiceError as exc:
            return form_refused(self, form, exc)
        messages.success(request, _("%(what)s %(name)s saved.") % {"what": capfirst(self.what_label), "name": obj.name})
        return redirect(self.list_url_name)

    def save(self, data: dict):
        raise NotImplementedError


class CatalogListView(PortalListView):
    """A list of categories or locations: searched by title or name, its texts in ``texts``."""

    template_name = "content/catalog_list.html"
    filter_names = ("search",)
    filter_labels = {"search": _("Search")}
    texts: dict[str, str] = {}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "search": self.request.GET.get("search", ""),
                "texts": self.texts, "row_template": self.row_template}


# --- Categories -------------------------------------------------------------------------------------------


class CategoryListView(CatalogListView):
    """Categories in display order with their channel counts and up/down buttons."""

    texts = {"heading": _("Categories"), "add_url_name": "content:category-create", "add_label": _("Add category"),
             "list_url_name": "content:category-list", "empty_title": _("No categories yet"),
             "empty_message": _("A category groups channels in players (news, sport, kids…)."),
             "footnote": _("Players list categories in this order (by position); Up and Down swap a category "
                           "with its neighbour.")}
    section = "categories"
    filterset_class = CategoryFilter
    columns = [
        Column(_("Position"), sort="position", csv=lambda row: row.position),
        Column(_("Title"), sort="title", csv=lambda row: row.title),
        Column(_("Technical name"), sort="name", csv=lambda row: row.name),
        Column(_("Channels"), csv=lambda row: row.channel_count),
        Column(""),
    ]
    default_sort = "position"
    row_template = "content/_category_row.html"
    csv_filename = "categories.csv"

    def get_queryset(self):
        return Category.objects.for_portal(self.portal).annotate(channel_count=Count("channel_links"))


class CategoryFormView(ObjectFormView):
    template_name = "content/category_form.html"
    section = "categories"
    form_class = CategoryForm
    model = Category
    object_kwarg = "category_id"
    what = "category"
    what_label = _("category")
    what_object = pgettext_lazy("accusative", "category")
    list_url_name = "content:category-list"
    delete_url_name = "content:category-delete"

    def save(self, data: dict):
        if self.create:
            return services.create_category(self.portal, caller=self.caller, data=data)
        return services.update_category(self.object, caller=self.caller, data=data)


class CategoryMoveView(ContentAdminMixin, View):
    """POST ``direction=up|down``: swap the category with its neighbour in the display order."""

    http_method_names = ["post"]

    def post(self, request, category_id):
        category = self.get_portal_object(Category, category_id)
        url = reverse("content:category-list")
        direction = request.POST.get("direction", "")
        if direction not in ("up", "down"):
            messages.error(request, _("Choose to move the category up or down."))
            return redirect(url)
        try:
            services.move_category(category, caller=self.caller, up=direction == "up")
        except ServiceError as exc:
            return action_refused(request, exc, url)
        return redirect(url)


class CategoryDeleteView(ContentAdminMixin, TemplateView):
    """Confirmation naming how many channels leave the category, then ``services.delete_category``."""

    template_name = "content/category_delete.html"
    section = "categories"

    @cached_property
    def category(self) -> Category:
        return self.get_portal_object(Category, self.kwargs["category_id"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(category=self.category, channel_count=self.category.channel_links.count())
        return context

    def post(self, request, category_id):
        category = self.category
        try:
            left = services.delete_category(category, caller=self.caller)
        except ServiceError as exc:
            return action_refused(request, exc, reverse("content:category-list"))
        suffix = ngettext("; %(count)d channel left it", "; %(count)d channels left it",
                          len(left)) % {"count": len(left)} if left else ""
        messages.success(request, _("Category %(name)s deleted%(suffix)s.") % {"name": category.name, "suffix": suffix})
        return redirect("content:category-list")


# --- Locations --------------------------------------------------------------------------------------------


class LocationListView(CatalogListView):
    """Locations by title with their countries, network counts and restricted channel counts."""

    texts = {"heading": _("Locations"), "add_url_name": "content:location-create", "add_label": _("Add location"),
             "list_url_name": "content:location-list", "empty_title": _("No locations yet"),
             "empty_message": _("A location (countries and networks) is where a restricted channel may be "
                                "watched.")}
    section = "locations"
    filterset_class = LocationFilter
    columns = [
        Column(_("Title"), sort="title", csv=lambda row: row.title),
        Column(_("Technical name"), sort="name", csv=lambda row: row.name),
        Column(_("Countries"), csv=lambda row: " ".join(row.countries)),
        Column(_("Networks"), csv=lambda row: " ".join(row.networks)),
        Column(_("Channels"), csv=lambda row: row.channel_count),
        Column(""),
    ]
    default_sort = "title"
    row_template = "content/_location_row.html"
    csv_filename = "locations.csv"

    def get_queryset(self):
        return Location.objects.for_portal(self.portal).annotate(channel_count=Count("channel_links"))



class LocationFormView(ObjectFormView):
    template_name = "content/location_form.html"
    section = "locations"
    form_class = LocationForm
    model = Location
    object_kwarg = "location_id"
    what = "location"
    what_label = _("location")
    what_object = pgettext_lazy("accusative", "location")
    list_url_name = "content:location-list"
    delete_url_name = "content:location-delete"

    def save(self, data: dict):
        if self.create:
            return services.create_location(self.portal, caller=self.caller, data=data)
        return services.update_location(self.object, caller=self.caller, data=data)


class LocationDeleteView(ContentAdminMixin, TemplateView):
    """Confirmation; a location channels are restricted to is explained and can be deleted anyway (force)."""

    template_name = "content/location_delete.html"
    section = "locations"

    @cached_property
    def location(self) -> Location:
        return self.get_portal_object(Location, self.kwargs["location_id"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        channels = list(self.location.channels.order_by("title").values_list("title", flat=True)[:20])
        context.update(location=self.location, channel_count=self.location.channel_links.count(),
                       channel_titles=channels)
        return context

    def post(self, request, location_id):
        location = self.location
        try:
            left = services.delete_location(location, caller=self.caller, force=request.POST.get("force") == "1")
        except ServiceError as exc:
            return self.render_to_response(self.get_context_data(error=exc.message), status=exc.status)
        suffix = ngettext("; %(count)d channel no longer restricted to it",
                          "; %(count)d channels no longer restricted to it", len(left)) % {"count": len(left)} \
            if left else ""
        messages.success(request, _("Location %(name)s deleted%(suffix)s.") % {"name": location.name, "suffix": suffix})
        return redirect("content:location-list")
