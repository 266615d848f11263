import functools
from collections.abc import Callable

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from onboarding import api, health, metrics, web

# Errors under /api/ are JSON like the API's own; Django's HTML pages everywhere else.
handler400 = api.bad_request
handler403 = api.permission_denied
handler404 = api.not_found
handler500 = api.server_error

# These deliver nothing: a reset link sent through them would reach the server's logs or no one.
_UNDELIVERED_EMAIL_BACKENDS = frozenset(
    {
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
    }
)


def password_reset_available() -> bool:
    return settings.EMAIL_BACKEND not in _UNDELIVERED_EMAIL_BACKENDS


def _only_with_email(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Password reset is a 404 until EMAIL_URL names a server that delivers mail (checked per request)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not password_reset_available():
            raise Http404("Password reset needs a mail server (EMAIL_URL).")
        return view(request, *args, **kwargs)

    return wrapped


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page that names no icon. Resolved per request: the static files'
    manifest may not exist yet when the URLs are imported (migrate runs before collectstatic)."""
    return HttpResponsePermanentRedirect(static("onboarding/favicon.svg"))


accounts_urlpatterns = [
    path("login/", web.in_learners_language(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", _only_with_email(auth_views.PasswordResetView.as_view()), name="password_reset"),
    path(
        "password_reset/done/",
        _only_with_email(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        _only_with_email(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/", _only_with_email(auth_views.PasswordResetCompleteView.as_view()), name="password_reset_complete"
    ),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("", RedirectView.as_view(url="/learn/", permanent=False)),
    path("favicon.ico", favicon, name="favicon"),
    path("learn/", web.learner_home, name="learner-home"),
    path("learn/module", web.learner_module_action, name="learner-module-action"),
    path("learn/team", web.learner_team, name="learner-team"),
    path("learn/preferences", web.learner_preferences_save, name="learner-preferences"),
    path("learn/survey", web.learner_survey_answer, name="learner-survey-answer"),
    path("learn/reminders/<int:reminder_id>/dismiss", web.learner_reminder_dismiss, name="learner-reminder-dismiss"),
    path("learn/tokens", web.learner_token_issue, name="learner-token-issue"),
    path("learn/tokens/<int:token_id>/revoke", web.learner_token_withdraw, name="learner-token-revoke"),
    path("accounts/", include(accounts_urlpatterns)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("identity.api.urls")),  # before signals_app's: PUT /learners/{id} and /learners/batch
    path("api/v1/", include("signals_app.api.urls")),
    path("api/v1/analytics/", include("insights.api_urls")),
    path("scim/v2/", include("identity.scim.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script from its own URL (?script): no inline script for the CSP to allow.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
