from django.urls import path

from signals_app.api import learners, preferences
from signals_app.api.simulation import PlaybookSimulateApi
from signals_app.api.views import EventDetailApi, EventsIngestApi

urlpatterns = [
    path("events", EventsIngestApi.as_view(), name="events-ingest"),
    path("events/<path:event_id>", EventDetailApi.as_view(), name="event-detail"),
    path("playbooks/<str:slug>/simulate", PlaybookSimulateApi.as_view(), name="playbook-simulate"),
    path("me", learners.MeApi.as_view(), name="me"),
    path("me/next-module", learners.MeNextModuleApi.as_view(), name="me-next-module"),
    path("me/progress", learners.MeProgressApi.as_view(), name="me-progress"),
    path("me/decisions", learners.MeDecisionsApi.as_view(), name="me-decisions"),
    path("me/reminders", learners.MeRemindersApi.as_view(), name="me-reminders"),
    path("me/preferences", preferences.MePreferencesApi.as_view(), name="me-preferences"),
    path("learners/<str:external_id>/next-module", learners.LearnerNextModuleApi.as_view(), name="learner-next-module"),
    path("learners/<str:external_id>/progress", learners.LearnerProgressApi.as_view(), name="learner-progress"),
    path("learners/<str:external_id>/decisions", learners.LearnerDecisionsApi.as_view(), name="learner-decisions"),
    path("learners/<str:external_id>/flags", learners.LearnerFlagsApi.as_view(), name="learner-flags"),
    path("learners/<str:external_id>/reminders", learners.LearnerRemindersApi.as_view(), name="learner-reminders"),
]
