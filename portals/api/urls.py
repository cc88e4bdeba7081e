from django.urls import re_path

from catena_site.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("managers", views.ManagerViewSet, basename="manager")

urlpatterns = [
    re_path(r"^portal/?$", views.PortalView.as_view(), name="portal"),
    re_path(r"^portal/reset_api_key/?$", views.ResetApiKeyView.as_view(), name="portal-reset-api-key"),
    re_path(r"^login/?$", views.LoginView.as_view(), name="login"),
    re_path(r"^logout/?$", views.LogoutView.as_view(), name="logout"),
    *router.urls,
]
