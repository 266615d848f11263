from django.urls import path

from insights.api import PlaybookAnalyticsApi, PlaybookFigureApi

urlpatterns = [
    path("playbooks/<slug:slug>", PlaybookAnalyticsApi.as_view(), name="analytics-playbook"),
    path("playbooks/<slug:slug>/<slug:figure>", PlaybookFigureApi.as_view(), name="analytics-figure"),
]
