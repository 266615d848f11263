from django.urls import path

from signals_app.api.views import EventsIngestApi

urlpatterns = [
    path("events", EventsIngestApi.as_view(), name="events-ingest"),
]
