"""The learner's own reminder settings: ``GET`` and ``PUT /api/v1/me/preferences`` (the learner page's form too)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import error_responses
from delivery.models import OPTIONAL_CHANNELS
from delivery.selectors import preference_row
from delivery.services import preferences_update
from signals_app.api.learners import LearnerApi

CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"


class PreferencesBody(serializers.Serializer):
    quiet_hours_start = serializers.RegexField(
        CLOCK, allow_blank=True, default="", help_text="No reminders from this time (your time zone), e.g. 19:00."
    )
    quiet_hours_end = serializers.RegexField(
        CLOCK, allow_blank=True, default="", help_text="…until this time, e.g. 08:00."
    )
    snoozed_until = serializers.DateField(
        allow_null=True, default=None, help_text="No reminders before this day (your time zone); null: none."
    )
    opted_out = serializers.ListField(
        child=serializers.ChoiceField(choices=OPTIONAL_CHANNELS),
        default=list,
        max_length=len(OPTIONAL_CHANNELS),
        help_text="Channels never to remind you by; your own page (in_app) always shows your reminders.",
    )


class MePreferencesApi(LearnerApi):
    """The caller's reminder settings, which the delivery policy honours beside the site's and the playbook's."""

    @extend_schema(responses={200: PreferencesBody, **error_responses(401, 404)})
    def get(self, request: Request) -> Response:
        return Response(PreferencesBody(preference_row(learner=self.learner)).data)

    @extend_schema(request=PreferencesBody, responses={200: PreferencesBody, **error_responses(400, 401, 404)})
    def put(self, request: Request) -> Response:
        body = PreferencesBody(data=request.data)
        body.is_valid(raise_exception=True)
        row = preferences_update(learner=self.learner, **body.validated_data)
        return Response(PreferencesBody(row).data)
