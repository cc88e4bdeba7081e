"""The Django admin for system administrators: create portals, hand a portal to another owner, reset a
manager's password. Everything else about a portal belongs to its own managers (API and screens).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from catena_site.errors import ServiceError

from . import services
from .models import Manager, Portal
from .validators import normalize_email, password_problems

# --- Changes made from the admin (system actor) -----------------------------------------------------------
# TODO(lead): these two belong in portals/services.py (one transaction each, each records its operation).


# --- Forms ------------------------------------------------------------------------------------------------


class PortalCreationForm(forms.ModelForm):
    """A new portal with its owner; saving calls :func:`portals.services.create_portal`."""

    owner_email = forms.EmailField(label="Owner email")
    owner_password = forms.CharField(label="Owner password", strip=False, widget=forms.PasswordInput,
                                     help_text="At least 8 characters with upper- and lower-case letters, a digit "
                                               "and a special character.")

    class Meta:
        model = Portal
        fields = ["name", "domain", "title"]

    def clean_owner_email(self):
        return normalize_email(self.cleaned_data["owner_email"])

    def clean_owner_password(self):
        password = self.cleaned_data["owner_password"]
        problems = password_problems(password, [self.data.get("owner_email", ""), self.data.get("name", "")])
        if problems:
            raise ValidationError(problems)
        return password

    def save(self, commit=True):
        try:
            portal = services.create_portal(
                name=self.cleaned_data["name"],
                domain=self.cleaned_data["domain"],
                owner_email=self.cleaned_data["owner_email"],
                owner_password=self.cleaned_data["owner_password"],
                title=self.cleaned_data.get("title") or "",
            )
        except ServiceError as exc:  # a concurrent create took the name between validation and save
            raise ValidationError(exc.message) from None
        self.instance = portal
        self.save_m2m = lambda: None
        return portal


class PortalOwnerForm(forms.ModelForm):
    """The change form: only the owner, chosen among the portal's own managers."""

    class Meta:
        model = Portal
        fields = ["owner"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["owner"]
        field.queryset = Manager.objects.for_portal(self.instance).order_by("email")
        field.required = True
        field.help_text = "One of this portal's managers."

    def clean_owner(self):
        owner = self.cleaned_data["owner"]
        if owner is None or owner.portal_id != self.instance.pk:
            raise ValidationError("The owner must be a manager of this portal.")
        return owner

    def save(self, commit=True):
        return services.change_portal_owner(self.instance, self.cleaned_data["owner"])


class ManagerPasswordForm(forms.Form):
    password1 = forms.CharField(label="New password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="New password (again)", strip=False, widget=forms.PasswordInput)

    def __init__(self, *args, manager: Manager | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.manager = manager

    def clean_password1(self):
        password = self.cleaned_data["password1"]
        problems = password_problems(password, [self.manager.email, self.manager.name] if self.manager else [])
        if problems:
            raise ValidationError(problems)
        return password

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned


# --- Admin classes ----------------------------------------------------------------------------------------


PASSWORD_PAGE = """{% extends "admin/base_site.html" %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'admin:index' %}">Home</a>
&rsaquo; <a href="{% url 'admin:portals_manager_changelist' %}">Managers</a>
&rsaquo; <a href="{% url 'admin:portals_manager_change' manager.pk %}">{{ manager.email }}</a>
&rsaquo; Password</div>{% endblock %}
{% block content %}<div id="content-main">
<p>Portal <strong>{{ manager.portal.name }}</strong>. Setting a password ends all of this manager's sessions.</p>
<form method="post">{% csrf_token %}<fieldset class="module aligned">{{ form.as_div }}</fieldset>
<div class="submit-row"><input type="submit" value="Set password" class="default"></div></form>
</div>{% endblock %}"""


@admin.register(Portal)
class PortalAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "title", "owner_email", "created_at"]
    search_fields = ["name", "domain", "title", "owner__email"]
    ordering = ["name"]
    list_select_related = ["owner"]
    readonly_fields = ["public_id", "name", "domain", "title", "description", "api_key", "created_at", "updated_at",
                       "manager_links"]
    add_fieldsets = [(None, {"fields": ["name", "domain", "title", "owner_email", "owner_password"]})]
    fieldsets = [
        (None, {"fields": ["public_id", "name", "domain", "title", "description", "created_at", "updated_at"]}),
        ("Owner", {"fields": ["owner", "manager_links"]}),
        ("API", {"fields": ["api_key"]}),
    ]

    @admin.display(description="Owner", ordering="owner__email")
    def owner_email(self, portal):
        return portal.owner.email if portal.owner_id else "—"

    @admin.display(description="ID")
    def public_id(self, portal):
        return portal.public_id

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @admin.display(description="Managers")
    def manager_links(self, portal):
        rows = [
            (reverse("admin:portals_manager_change", args=[m.pk]), m.email, " (owner)" if m.pk == portal.owner_id else "")
            for m in Manager.objects.for_portal(portal).order_by("email")
        ]
        if not rows:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join("", '<li><a href="{}">{}</a>{}</li>', rows))

    def has_delete_permission(self, request, obj=None):
        return False  # deleting a tenant with all its data needs a service function, not a cascade from here

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = PortalCreationForm if obj is None else PortalOwnerForm
        kwargs["fields"] = None  # the form's own Meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        pass  # the form's save() already wrote through the service

    def save_related(self, request, form, formsets, change):
        pass  # managers are read-only here


@admin.register(Manager)
class ManagerAdmin(admin.ModelAdmin):
    """Read-only, apart from setting a new password."""

    list_display = ["email", "name", "portal", "is_owner_display", "is_admin", "is_content_admin",
                    "is_subscriber_admin", "last_login_at"]
    list_filter = ["is_admin", "is_content_admin", "is_subscriber_admin"]
    search_fields = ["email", "name", "portal__name"]
    list_select_related = ["portal"]
    ordering = ["email"]
    fields = ["public_id", "portal", "email", "name", "is_admin", "is_content_admin", "is_subscriber_admin",
              "created_at", "updated_at", "last_login_at", "password_link"]
    readonly_fields = fields

    @admin.display(description="ID")
    def public_id(self, manager):
        return manager.public_id

    @admin.display(description="Owner", boolean=True)
    def is_owner_display(self, manager):
        return manager.portal.owner_id == manager.pk

    @admin.display(description="Password")
    def password_link(self, manager):
        if not manager.pk:
            return "—"
        url = reverse("admin:portals_manager_password", args=[manager.pk])
        return format_html('<a href="{}">Set a new password</a>', url)

    def has_add_permission(self, request):
        return False  # managers are created by their portal's admins (API and screens)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        custom = [path("<int:manager_id>/password/", self.admin_site.admin_view(self.password_view),
                       name="portals_manager_password")]
        return custom + super().get_urls()

    def password_view(self, request, manager_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        manager = get_object_or_404(Manager.objects.select_related("portal"), pk=manager_id)
        form = ManagerPasswordForm(request.POST or None, manager=manager)
        if request.method == "POST" and form.is_valid():
            services.set_manager_password(manager, form.cleaned_data["password1"])
            self.log_change(request, manager, "Set a new password.")
            messages.success(request, f"New password set for {manager.email}; their sessions were ended.")
            return HttpResponseRedirect(reverse("admin:portals_manager_change", args=[manager.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Set a new password for {manager.email}",
            "form": form,
            "manager": manager,
            "opts": self.opts,
            "original": manager,
        }
        return HttpResponse(engines["django"].from_string(PASSWORD_PAGE).render(context, request))
