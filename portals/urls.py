"""Screens of portals and managers (namespace ``web``)."""

from django.urls import path

from . import account_views, password_reset_views, views

app_name = "web"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/portal/", views.ChoosePortalView.as_view(), name="choose-portal"),
    path("login/code/", account_views.LoginCodeView.as_view(), name="login-code"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("language/", account_views.LanguageView.as_view(), name="language"),
    path("account/", account_views.AccountView.as_view(), name="account"),
    path("account/password/", account_views.PasswordChangeView.as_view(), name="account-password"),
    path("account/sessions/<int:session_id>/end/", account_views.SessionEndView.as_view(), name="account-session-end"),
    path("account/sessions/end-others/", account_views.OtherSessionsEndView.as_view(),
         name="account-sessions-end-others"),
    path("account/2fa/", account_views.TwoFactorView.as_view(), name="account-2fa"),
    path("password-reset/", password_reset_views.ResetRequestView.as_view(), name="password-reset"),
    path("password-reset/sent/", password_reset_views.ResetSentView.as_view(), name="password-reset-sent"),
    path("password-reset/<str:manager_id>/set-password/", password_reset_views.SetPasswordView.as_view(),
         name="password-reset-set"),
    path("password-reset/<str:manager_id>/<str:token>/", password_reset_views.ResetLinkView.as_view(),
         name="password-reset-link"),
    path("portal/settings/", views.PortalSettingsView.as_view(), name="portal-settings"),
    path("portal/logo", views.PortalLogoView.as_view(), name="portal-logo"),
    path("portal/api-key/reset/", views.ResetApiKeyView.as_view(), name="reset-api-key"),
    path("managers/", views.ManagerListView.as_view(), name="manager-list"),
    path("managers/new/", views.ManagerCreateView.as_view(), name="manager-create"),
    path("managers/<str:manager_id>/edit/", views.ManagerEditView.as_view(), name="manager-edit"),
    path("managers/<str:manager_id>/delete/", views.ManagerDeleteView.as_view(), name="manager-delete"),
]
