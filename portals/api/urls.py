from django.urls import re_path

from catena_site.api.routers import OptionalSlashRouter

from . import account_views, views

router = OptionalSlashRouter()
router.register("managers", views.ManagerViewSet, basename="manager")

urlpatterns = [
    re_path(r"^portal/?$", views.PortalView.as_view(), name="portal"),
    re_path(r"^portal/reset_api_key/?$", views.ResetApiKeyView.as_view(), name="portal-reset-api-key"),
    re_path(r"^login/?$", views.LoginView.as_view(), name="login"),
    re_path(r"^logout/?$", views.LogoutView.as_view(), name="logout"),
    re_path(r"^me/?$", account_views.MeView.as_view(), name="me"),
    re_path(r"^me/password/?$", account_views.MePasswordView.as_view(), name="me-password"),
    re_path(r"^me/totp/?$", account_views.MeTotpView.as_view(), name="me-totp"),
    re_path(r"^me/totp/confirm/?$", account_views.MeTotpConfirmView.as_view(), name="me-totp-confirm"),
    *router.urls,
]
