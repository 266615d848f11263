"""DATABASE_POOL chooses how processes hold PostgreSQL connections; each choice runs a real query against the test
database, in a process of its own (the settings are read once, at start)."""

import json

import pytest
from django.db import connection

from tests.onboarding.test_settings import _manage

SHOW = (
    "from django.db import connection as c; from django.conf import settings as s; "
    "c.cursor().execute('SELECT 1'); d = s.DATABASES['default']; "
    "print(__import__('json').dumps({'age': d['CONN_MAX_AGE'], 'pool': {k: v for k, v in "
    "d['OPTIONS'].get('pool', {}).items()}, 'no_cursors': d.get('DISABLE_SERVER_SIDE_CURSORS', False), "
    "'pooled': c.pool is not None}))"
)


@pytest.fixture
def database_url(db) -> str:
    settings = connection.settings_dict
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


def _show(database_url: str, var_dir, **env: str) -> dict:
    result = _manage("shell", "-c", SHOW, env={"DATABASE_URL": database_url, "ONBOARDING_VAR_DIR": str(var_dir), **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_persistent_connections_by_default(database_url, tmp_path):
    shown = _show(database_url, tmp_path)

    assert shown == {"age": 600, "pool": {}, "no_cursors": False, "pooled": False}


def test_psycopg_pool_lends_connections_and_keeps_none_itself(database_url, tmp_path):
    shown = _show(database_url, tmp_path, DATABASE_POOL="psycopg", DATABASE_POOL_MAX_SIZE="8")

    assert shown == {
        "age": 0,
        "pool": {"min_size": 1, "max_size": 8, "timeout": 10.0},
        "no_cursors": False,
        "pooled": True,
    }


def test_pgbouncer_mode_keeps_nothing_between_transactions(database_url, tmp_path):
    shown = _show(database_url, tmp_path, DATABASE_POOL="PgBouncer")

    assert shown == {"age": 600, "pool": {}, "no_cursors": True, "pooled": False}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_POOL": "pgpool"}, "DATABASE_POOL: 'pgpool' is not one of persistent, psycopg, pgbouncer"),
        ({"DATABASE_POOL": "psycopg", "DATABASE_POOL_MIN_SIZE": "5", "DATABASE_POOL_MAX_SIZE": "2"}, "MIN_SIZE must"),
        ({"DATABASE_POOL": "psycopg", "DATABASE_POOL_MAX_SIZE": "many"}, "DATABASE_POOL_MAX_SIZE: 'many'"),
    ],
)
def test_a_wrong_pool_setting_stops_the_process_naming_it(database_url, tmp_path, env, message):
    result = _manage("check", env={"DATABASE_URL": database_url, "ONBOARDING_VAR_DIR": str(tmp_path), **env})

    assert result.returncode != 0
    assert message in result.stderr
