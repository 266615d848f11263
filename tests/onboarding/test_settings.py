"""Configuration errors fail at start, naming the variable; production settings pass check --deploy."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_urlsafe(64)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**keep, **env}, capture_output=True, text=True, timeout=60
    )


def _production_env(**overrides: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "onboarding.settings.production",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "onboarding.example.com",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"],
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_production_settings_pass_check_deploy():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": None}, "Set the SECRET_KEY environment variable"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is too weak"),
        ({"ALLOWED_HOSTS": None}, "Set the ALLOWED_HOSTS environment variable"),
        ({"DATABASE_URL": None}, "Set the DATABASE_URL environment variable"),
        ({"DATABASE_URL": "postgress://db/onboarding"}, "DATABASE_URL: unsupported or missing scheme 'postgress'"),
        ({"DATABASE_URL": "postgres://db:notaport/onboarding"}, "DATABASE_URL is malformed"),
        ({"DATABASE_URL": "postgres://db:5432"}, "DATABASE_URL names no database"),
        ({"CELERY_BROKER_URL": "filesystem://"}, "CELERY_BROKER_URL must be a Redis URL"),
        ({"SECRET_KEY": None, "SECRET_KEY_FILE": "/nonexistent/key"}, "SECRET_KEY_FILE: cannot read"),
    ],
)
def test_bad_production_configuration_fails_fast_naming_it(overrides, message):
    result = _manage("check", env=_production_env(**overrides))

    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1]  # the error a person reads last names the variable


def test_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text(STRONG_KEY + "\n")

    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=_production_env(SECRET_KEY=None, SECRET_KEY_FILE=str(key_file)),
    )

    assert result.returncode == 0, result.stderr


def test_embedded_default_refuses_a_malformed_database_url(tmp_path):
    result = _manage("check", env={"ONBOARDING_VAR_DIR": str(tmp_path), "DATABASE_URL": "mysql//oops"})

    assert result.returncode != 0
    assert "DATABASE_URL: unsupported or missing scheme" in result.stderr
