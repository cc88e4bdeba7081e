"""The Django admin for system administrators: create portals, hand a portal to another owner, reset a
manager's password. Everything else about a portal belongs to its own managers (API and screens).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from catena_site.errors import Invalid, ServiceError

from . import account, services
from .inputs import PortalCreationInput, StreamingServerInput
from .models import DEFAULT_SERVER_NAME, Manager, Portal, StreamingServer
from .validators import password_problems

# --- Forms ------------------------------------------------------------------------------------------------


class PortalCreationForm(forms.ModelForm):
    """A new portal with its owner; saving calls :func:`portals.services.create_portal`.

    The streaming server starts as the default one."""

    owner_email = forms.CharField(label="Owner email")
    owner_password = forms.CharField(label="Owner password", strip=False, widget=forms.PasswordInput,
                                     help_text="At least 8 characters with upper- and lower-case letters, a digit "
                                               "and a special character.")

    # The fields of ``PortalCreationInput`` (the rules ``services.create_portal`` applies) → this form's.
    SHAPE_FIELDS = {"name": "name", "domain": "domain", "title": "title", "ownerEmail": "owner_email",
                    "ownerPassword": "owner_password"}

    class Meta:
        model = Portal
        fields = ["name", "domain", "title", "streaming_server"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["streaming_server"]
        field.queryset = StreamingServer.objects.order_by("name")
        field.required = False
        field.help_text = "Empty: the default server."
        default = StreamingServer.objects.filter(name=DEFAULT_SERVER_NAME).first()
        if default is not None:
            field.initial = default.pk

    def clean(self):
        """Every rule of the input shape, on its field, beside the model's own (uniqueness)."""
        cleaned = super().clean()
        try:
            PortalCreationInput.check({api: self.data.get(field, "") for api, field in self.SHAPE_FIELDS.items()})
        except Invalid as exc:
            for key, reasons in exc.errors.items():
                field = self.SHAPE_FIELDS.get(key)
                if field not in self.errors:
                    self.add_error(field, reasons)
        return cleaned

    def save(self, commit=True):
        try:
            portal = services.create_portal(
                name=self.cleaned_data["name"],
                domain=self.cleaned_data["domain"],
                owner_email=self.cleaned_data["owner_email"],
                owner_password=self.cleaned_data["owner_password"],
                title=self.cleaned_data.get("title") or "",
                streaming_server=self.cleaned_data.get("streaming_server"),
            )
        except ServiceError as exc:  # a concurrent create took the name between validation and save
            raise ValidationError(exc.message) from None
        self.instance = portal
        self.save_m2m = lambda: None
        return portal


class PortalOwnerForm(forms.ModelForm):
    """The change form: the owner, chosen among the portal's own managers, and the streaming server (refused
    while one of the portal's channel names is used by another portal on that server)."""

    class Meta:
        model = Portal
        fields = ["owner", "streaming_server"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["owner"]
        field.queryset = Manager.objects.for_portal(self.instance).order_by("email")
        field.required = True
        field.help_text = "One of this portal's managers."
        field = self.fields["streaming_server"]
        field.queryset = StreamingServer.objects.order_by("name")
        field.required = False
        field.help_text = ("Empty: unchanged. A portal cannot move to a server where another portal has a channel "
                           "of the same name.")

    def clean_owner(self):
        owner = self.cleaned_data["owner"]
        if owner is None or owner.portal_id != self.instance.pk:
            raise ValidationError("The owner must be a manager of this portal.")
        return owner

    def clean_streaming_server(self):
        server = self.cleaned_data["streaming_server"] or self.instance.streaming_server
        taken = services.colliding_stream_names(self.instance, server)
        if taken:
            raise ValidationError(f"Channels named {', '.join(taken)} already exist on streaming server "
                                  f"{server.name}: delete them in one of the portals first.")
        return server

    def save(self, commit=True):
        try:
            # The server first: a refusal (a channel created since validation) leaves the owner unchanged too.
            with transaction.atomic():
                services.move_portal_to_server(self.instance, self.cleaned_data["streaming_server"])
                return services.change_portal_owner(self.instance, self.cleaned_data["owner"])
        except ServiceError as exc:
            raise ValidationError(exc.message) from None


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
    list_display = ["name", "domain", "title", "owner_email", "streaming_server", "created_at"]
    list_filter = ["streaming_server"]
    search_fields = ["name", "domain", "title", "owner__email"]
    ordering = ["name"]
    list_select_related = ["owner", "streaming_server"]
    readonly_fields = ["public_id", "name", "domain", "title", "description", "api_key", "created_at", "updated_at",
                       "manager_links"]
    add_fieldsets = [(None, {"fields": ["name", "domain", "title", "streaming_server", "owner_email",
                                        "owner_password"]})]
    fieldsets = [
        (None, {"fields": ["public_id", "name", "domain", "title", "description", "created_at", "updated_at"]}),
        ("Owner", {"fields": ["owner", "manager_links"]}),
        ("Streaming", {"fields": ["streaming_server"]}),
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
                    "is_subscriber_admin", "two_factor", "last_login_at"]
    list_filter = ["is_admin", "is_content_admin", "is_subscriber_admin"]
    search_fields = ["email", "name", "portal__name"]
    list_select_related = ["portal", "totp"]
    ordering = ["email"]
    actions = ["turn_off_two_factor"]
    fields = ["public_id", "portal", "email", "name", "is_admin", "is_content_admin", "is_subscriber_admin",
              "created_at", "updated_at", "last_login_at", "password_link"]
    readonly_fields = fields

    @admin.display(description="ID")
    def public_id(self, manager):
        return manager.public_id

    @admin.display(description="Owner", boolean=True)
    def is_owner_display(self, manager):
        return manager.portal.owner_id == manager.pk

    @admin.display(description="2FA", boolean=True)
    def two_factor(self, manager):
        totp = getattr(manager, "totp", None)
        return bool(totp and totp.enabled)

    @admin.action(description="Turn off two-factor authentication (lost authenticator and recovery codes)")
    def turn_off_two_factor(self, request, queryset):
        for manager in queryset.select_related("portal"):
            if account.reset_two_factor(manager):
                self.log_change(request, manager, "Turned off two-factor authentication.")
                messages.success(request, f"Two-factor authentication of {manager.email} is off.")

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


class StreamingServerForm(forms.ModelForm):
    """A streaming server. The API password and token are never shown again: an empty field keeps the stored
    value, "Clear the API credentials" empties both (the default server then uses ``STREAMER_API_*``)."""

    api_password = forms.CharField(label="API password", required=False, strip=False,
                                   widget=forms.PasswordInput(render_value=False),
                                   help_text="Leave empty to keep the current password.")
    api_token = forms.CharField(label="API token", required=False, widget=forms.PasswordInput(render_value=False),
                                help_text="Bearer token, instead of user and password. Leave empty to keep the "
                                          "current token.")
    clear_credentials = forms.BooleanField(label="Clear the API password and token", required=False)

    class Meta:
        model = StreamingServer
        fields = ["name", "key", "allowed_ips", "api_url", "api_user", "api_password", "api_token"]
        widgets = {"allowed_ips": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored = (self.instance.api_password, self.instance.api_token)
        if self.instance.pk and self.instance.is_default:
            self.fields["name"].disabled = True
            self.fields["name"].help_text = ("New portals get this server; its empty fields are the STREAMER_* "
                                             "settings. It cannot be renamed.")

    def clean(self):
        """Every rule of ``StreamingServerInput`` (what ``services.save_streaming_server`` applies), each on its
        field; then whether another server uses the key."""
        cleaned = super().clean()
        try:
            StreamingServerInput.check({field: cleaned.get(field) or "" for field in StreamingServerInput._declared_fields})
        except Invalid as exc:
            for field, reasons in exc.errors.items():
                if field not in self.errors:
                    self.add_error(field if field in self.fields else None, reasons)
        name = cleaned.get("name")
        if name and not self.errors:
            candidate = StreamingServer(pk=self.instance.pk, name=name, key=cleaned.get("key") or "")
            if services.streaming_server_key_taken(candidate):
                self.add_error("key", "Another streaming server uses this key.")
        if cleaned.get("clear_credentials"):
            cleaned["api_password"] = cleaned["api_token"] = ""
        else:  # an empty password or token field keeps the stored secret
            cleaned["api_password"] = cleaned.get("api_password") or self._stored[0]
            cleaned["api_token"] = cleaned.get("api_token") or self._stored[1]
        return cleaned


@admin.register(StreamingServer)
class StreamingServerAdmin(admin.ModelAdmin):
    """Streaming servers. Secrets (key, API password and token) never appear in the list."""

    form = StreamingServerForm
    list_display = ["name", "api_url", "allowed_ips_display", "portal_count"]
    search_fields = ["name"]
    ordering = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "key", "allowed_ips"]}),
        ("API (re-authorization and reconciliation)", {"fields": ["api_url", "api_user", "api_password",
                                                                   "api_token", "clear_credentials"]}),
    ]

    @admin.display(description="Allowed IPs")
    def allowed_ips_display(self, server):
        from .streaming_servers import split_addresses

        return ", ".join(split_addresses(server.allowed_ips)) or "any"

    @admin.display(description="Portals", ordering="portal_count")
    def portal_count(self, server):
        return server.portal_count

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(portal_count=Count("portals"))

    def has_delete_permission(self, request, obj=None):
        # Portals point at their server (PROTECT); the default one is where new portals go.
        return obj is not None and not obj.is_default and not obj.portals.exists()

    def save_model(self, request, obj, form, change):
        obj.api_password = form.cleaned_data["api_password"]
        obj.api_token = form.cleaned_data["api_token"]
        try:
            services.save_streaming_server(obj)
        except ServiceError as exc:
            raise ValidationError(exc.message) from None

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        from .streaming_servers import changed

        changed()
