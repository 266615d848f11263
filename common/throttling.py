"""A courtesy rate limit per caller (API key, learner token, login, or address). Not a security boundary: the
counts live in each process's cache unless a shared cache is configured, and a determined client can spread out."""

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class CallerRateThrottle(SimpleRateThrottle):
    scope = "caller"

    def get_cache_key(self, request: Request, view) -> str:
        prefix = getattr(request.auth, "prefix", None)
        if prefix:
            ident = f"key:{prefix}"
        elif getattr(request.user, "pk", None) is not None:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
