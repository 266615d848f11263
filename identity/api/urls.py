from django.urls import path

from identity.api.views import LearnerBatchApi, LearnerPutApi

# Included before signals_app's routes (onboarding/urls.py); "learners/batch" first, so that it is never taken for
# an external id (a learner whose external id is "batch" cannot be PUT: use the batch endpoint for them).
urlpatterns = [
    path("learners/batch", LearnerBatchApi.as_view(), name="learners-batch"),
    path("learners/<str:external_id>", LearnerPutApi.as_view(), name="learner-put"),
]
