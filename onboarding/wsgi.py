import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "onboarding.settings.base")

application = get_wsgi_application()
# Import every view now, while the worker boots, rather than in the first request it serves: the URLconf pulls in
# rule-engine and the SCIM models (about a second), which would otherwise be one request's latency, a health
# probe's for instance.
get_resolver().check()  # resolves url_patterns, importing every view module
