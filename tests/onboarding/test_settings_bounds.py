"""The timeouts and limits that bound the platform's dependencies stop the process at start when malformed, naming
the variable (tests/onboarding/test_settings.py covers the required production values)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CELERY_BROKER_SOCKET_TIMEOUT", "soon", "CELERY_BROKER_SOCKET_TIMEOUT: 'soon' is not a number"),
        ("CELERY_BROKER_SOCKET_TIMEOUT", "0", "CELERY_BROKER_SOCKET_TIMEOUT: must be a number above 0"),
        ("CELERY_VISIBILITY_TIMEOUT", "1.5", "CELERY_VISIBILITY_TIMEOUT: '1.5' is not a whole number"),
        ("READYZ_TIMEOUT_SECONDS", "-2", "READYZ_TIMEOUT_SECONDS: must be a number above 0"),
        ("BEAT_SCHEDULE_RELOAD_SECONDS", "inf", "BEAT_SCHEDULE_RELOAD_SECONDS: must be a number above 0"),
        ("API_MAX_BODY_BYTES", "5MB", "API_MAX_BODY_BYTES: '5MB' is not a whole number"),
        ("LOGIN_FAILURE_LIMIT", "0", "LOGIN_FAILURE_LIMIT: must be a number above 0"),
        ("LOGIN_LOCKOUT_MINUTES", "a while", "LOGIN_LOCKOUT_MINUTES: 'a while' is not a whole number"),
        ("EVALUATION_TASK_LEARNERS", "0", "EVALUATION_TASK_LEARNERS: must be a number above 0"),
        ("EVALUATION_TASK_LEARNERS", "12.5", "EVALUATION_TASK_LEARNERS: '12.5' is not a whole number"),
    ],
)
def test_a_malformed_bound_stops_the_process_naming_it(tmp_path, variable, value, message):
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = {**keep, "ONBOARDING_VAR_DIR": str(tmp_path), variable: value}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1]
