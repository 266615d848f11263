"""OpenAPI descriptions of our authentication schemes (drf-spectacular finds these by import path)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A service key: `Api-Key onb_…`, scoped (events:write, learners:read, …).",
        }


class LearnerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.LearnerTokenAuthentication"
    name = "LearnerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A learner's personal token: `Token onl_…`.",
        }
