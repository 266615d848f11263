from django.urls import path

from insights.api import PlaybookAnalyticsApi, PlaybookFigureApi
from insights.api_experiments import PlaybookExperimentsApi

urlpatterns = [
    path("playbooks/<slug:slug>", PlaybookAnalyticsApi.as_view(), name="analytics-playbook"),
    # Before the figures: "experiments" would otherwise be taken for a figure's name.
    path("playbooks/<slug:slug>/experiments", PlaybookExperimentsApi.as_view(), name="analytics-experiments"),
    path("playbooks/<slug:slug>/<slug:figure>", PlaybookFigureApi.as_view(), name="analytics-figure"),
]
