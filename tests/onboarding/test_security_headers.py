"""Production settings: every response carries the CSP (no 'unsafe-inline' for scripts or styles), nosniff and frame
protection, and HSTS once the request came over TLS (here: through a proxy that says so)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run under production settings in a process of its own: the pages below need no database, only settings.
PROBE = """
import json, sys
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("collectstatic", interactive=False, verbosity=0)  # production serves hashed names from the manifest
client = Client(HTTP_HOST="onboarding.example.com")
answers = {}
for path in sys.argv[1:]:
    plain = client.get(path)
    secure = client.get(path, HTTP_X_FORWARDED_PROTO="https")
    answers[path] = {
        "plain": [plain.status_code, dict(plain.headers)], "secure": [secure.status_code, dict(secure.headers)]
    }
print(json.dumps(answers))
"""
PATHS = ["/healthz", "/accounts/login/", "/admin/login/", "/api/docs/", "/api/nope"]


@pytest.fixture(scope="module")
def production_answers(tmp_path_factory) -> dict:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "DATABASE_URL", "CELERY_BROKER_URL")}
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "onboarding.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "onboarding.example.com",
        "SECURE_PROXY_SSL_HEADER_ENABLED": "true",
        "STATIC_ROOT": str(tmp_path_factory.mktemp("static")),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *PATHS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (part.strip().split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parts}


@pytest.mark.parametrize("path", PATHS)
def test_production_responses_carry_the_security_headers(production_answers, path):
    status, headers = production_answers[path]["secure"]

    assert status in (200, 404), (path, status)
    policy = _directives(headers["Content-Security-Policy"])
    for directive in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[directive], policy
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["Referrer-Policy"] == "same-origin"


def test_plain_http_is_redirected_to_https_except_the_probes_and_carries_no_hsts(production_answers):
    status, headers = production_answers["/accounts/login/"]["plain"]
    assert status == 301 and headers["Location"] == "https://onboarding.example.com/accounts/login/"

    status, headers = production_answers["/healthz"]["plain"]
    assert status == 200
    assert "Strict-Transport-Security" not in headers  # HSTS only means something over TLS
    assert headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in headers
