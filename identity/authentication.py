"""DRF authentication for service API keys (``Authorization: Api-Key <key>``) and the scope permission."""

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from identity.keys import LEARNER, key_matches, key_prefix
from identity.models import ApiKey, Learner, LearnerToken

# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION_SECONDS = 60


class TokenCaller:
    """An authenticated caller that is not a Django user (so never staff, and with no user pk)."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False
    pk = None


class ServiceClient(TokenCaller):
    """The caller when a service key is used."""

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request: Request) -> tuple[ServiceClient, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme != self.keyword:
            return None
        prefix = key_prefix(key.strip())
        api_key = ApiKey.objects.usable().filter(prefix=prefix).first() if prefix else None
        if api_key is None or not key_matches(key.strip(), api_key.key_hash):
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        _note_use(api_key)
        return ServiceClient(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class HasScope(permissions.BasePermission):
    """Allows service keys that hold ``required_scope`` (set on the view)."""

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view) -> bool:
        scope = getattr(view, "required_scope", None)
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        if api_key is None or scope is None:
            return False
        if not api_key.has_scope(scope):
            self.message = f"This API key lacks the '{scope}' scope."
            return False
        return True


class LearnerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token onl_…``: a learner's personal token; ``request.auth`` is the LearnerToken."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[object, LearnerToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme != self.keyword:
            return None
        key = key.strip()
        prefix = key_prefix(key, LEARNER)
        token = (
            LearnerToken.objects.select_related("learner__user").filter(prefix=prefix, revoked_at__isnull=True).first()
            if prefix
            else None
        )
        if token is None or not key_matches(key, token.key_hash) or not token.learner.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        _note_use(token)
        return LearnerClient(token.learner), token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class LearnerClient(TokenCaller):
    """The caller when a learner token is used."""

    def __init__(self, learner: Learner) -> None:
        self.learner = learner

    def __str__(self) -> str:
        return f"learner:{self.learner.external_id}"


def _note_use(row: ApiKey | LearnerToken) -> None:
    """Record when a key or token was last used, at most once a minute, not a write per request."""
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        type(row).objects.filter(pk=row.pk).update(last_used_at=now)
