"""Serializers that document the API's shared shapes (the error body) for the OpenAPI schema."""

from rest_framework import serializers


class FieldErrorOutput(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, required=False, help_text="The event's index in a batch.")
    field = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorOutput(serializers.Serializer):
    """Every error: a stable lower-case ``code``, a ``message`` saying how to fix it, the ``field`` at fault."""

    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)
    errors = FieldErrorOutput(many=True, required=False, help_text="Every problem, for validation errors.")


def error_responses(*statuses: int) -> dict[int, type[ErrorOutput]]:
    return dict.fromkeys(statuses, ErrorOutput)
