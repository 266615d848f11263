from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from onboarding import health, web

admin.site.site_header = "Onboarding platform"
admin.site.site_title = "Onboarding admin"
admin.site.index_title = "Playbooks, learners and content"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", RedirectView.as_view(url="/learn/", permanent=False)),
    path("learn/", web.learner_home, name="learner-home"),
    path("learn/module", web.learner_module_action, name="learner-module-action"),
    path("learn/reminders/<int:reminder_id>/dismiss", web.learner_reminder_dismiss, name="learner-reminder-dismiss"),
    path("learn/tokens", web.learner_token_issue, name="learner-token-issue"),
    path("learn/tokens/<int:token_id>/revoke", web.learner_token_withdraw, name="learner-token-revoke"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("signals_app.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
