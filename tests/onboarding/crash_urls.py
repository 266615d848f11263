"""The site's URLs plus a view that crashes, under /api/ and outside it, for the tests of the 500 answers."""

from django.http import HttpRequest
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from onboarding.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


class CrashApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("a bug")


def crash_page(request: HttpRequest):
    raise RuntimeError("a bug")


urlpatterns = [path("api/v1/crash", CrashApi.as_view()), path("crash", crash_page), *urlpatterns]
