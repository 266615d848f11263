"""The Django view serving every SCIM endpoint under /scim/v2/, through scim2-server.

A request becomes scim2-server's framework-free ``ScimRequest``; the token in ``Authorization: Bearer …`` names the
identity source; scim2-server's ``ScimHandler`` serves the request over that source's ``SourceStorage``; its
``ScimResponse`` (always ``application/scim+json``, errors as ``urn:ietf:params:scim:api:messages:2.0:Error``)
becomes the Django response. No session, no CSRF token: the bearer token is the only credential.
"""

import functools
import json
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from scim2_models import (
    ForbiddenException,
    PayloadTooLargeException,
    Resource,
    ResourceType,
    SCIMException,
    UnauthorizedException,
)
from scim2_server.applications.base import BaseApplication
from scim2_server.conditions import Conditions
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse

from identity.models import IdentitySource
from identity.scim.provider import USER, scim_provider, scim_service
from identity.scim.storage import SourceStorage
from identity.scim.tokens import scim_token_source

logger = logging.getLogger(__name__)

# Seconds an IdP should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 5


class SourceHandler(ScimHandler):
    """scim2-server's handler, keeping a user's ``active`` when a PUT leaves it out: Okta and Entra send the whole
    profile on PUT, and a profile without ``active`` is not a request to reactivate (or deactivate) anyone."""

    def replace_resource(
        self, resource_type: ResourceType, current: Resource[Any], replacement: Resource[Any], conditions: Conditions
    ) -> Resource[Any]:
        if resource_type.name == USER and replacement.active is None and current.active is not None:
            replacement.active = current.active
        return super().replace_resource(resource_type, current, replacement, conditions)


class PlatformScimApplication(BaseApplication):
    """scim2-server's application logic (routing, authentication hook, errors) with one storage per source."""

    def serve(self, request: ScimRequest) -> ScimResponse:
        try:
            response = self.dispatch_request(request)
        except Exception as exception:
            response = self.handle_exception(request, exception)
        return self.finalize_response(request, response)

    def dispatch_request(self, request: ScimRequest) -> ScimResponse:
        source = self.authenticate(request) if self.needs_auth(request) else None
        request.subject = source
        storage = SourceStorage(source) if source is not None else _NO_STORAGE
        return SourceHandler(self.service, storage).handle(request)

    def authenticate(self, request: ScimRequest) -> IdentitySource:
        scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise UnauthorizedException(detail="Send the source's SCIM token as 'Authorization: Bearer <token>'")
        source = scim_token_source(token)
        if source is None:
            raise UnauthorizedException(detail="This token is not a SCIM token of any source (or it was replaced)")
        if not source.enabled:
            raise ForbiddenException(detail=f"The identity source {source.name!r} is disabled on the platform")
        return source

    def handle_exception(self, request: ScimRequest, exception: Exception) -> ScimResponse:
        if isinstance(exception, OperationalError | InterfaceError):
            logger.warning("identity.scim.database_unavailable", extra={"path": request.path, "error": repr(exception)})
            error = SCIMException(detail="The service cannot reach its database; try again shortly")
            error.status = 503
            response = self.service.error_response(error)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if isinstance(exception, SCIMException):
            logger.info(
                "identity.scim.refused",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": exception.status,
                    "detail": str(exception)[:500],
                },
            )
        else:
            logger.exception("identity.scim.error", extra={"method": request.method, "path": request.path})
        return self.service.error_response(exception)


class _NoStorage(SourceStorage):
    """What the handler holds for the one request with no source (GET /ServiceProviderConfig): never read."""

    def __init__(self) -> None:
        pass  # bound to no source


_NO_STORAGE = _NoStorage()


@functools.cache
def application() -> PlatformScimApplication:
    return PlatformScimApplication(scim_provider(), scim_service())


@csrf_exempt
def scim_endpoint(request: HttpRequest, path: str = "") -> HttpResponse:
    app = application()
    base_url = request.build_absolute_uri(reverse("scim-root")).rstrip("/")
    scim_request = ScimRequest(
        method=request.method or "GET",
        base_url=base_url,
        path=app.split_path(f"/{path}"),
        query={key: request.GET[key] for key in request.GET},
        headers=list(request.headers.items()),
    )
    if request.META.get("HTTP_TRANSFER_ENCODING") and not request.META.get("CONTENT_LENGTH"):
        # WSGI gives Django no length for a chunked body, which it would read as empty (onboarding/middleware.py).
        refusal = SCIMException(detail="Send the body with a Content-Length header; chunked bodies are not accepted")
        refusal.status = 411
        return _django_response(app.finalize_response(scim_request, app.service.error_response(refusal)))
    try:
        scim_request.body = request.body
    except RequestDataTooBig:
        refusal = PayloadTooLargeException(detail="The body is larger than this server accepts")
        return _django_response(app.finalize_response(scim_request, app.service.error_response(refusal)))
    return _django_response(app.serve(scim_request))


def _django_response(response: ScimResponse) -> HttpResponse:
    body = b"" if response.body is None else json.dumps(response.body).encode()
    headers = dict(response.headers)
    content_type = headers.pop("Content-Type", "application/scim+json")
    return HttpResponse(body, status=int(response.status), content_type=content_type, headers=headers)
