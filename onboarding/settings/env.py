"""Typed environment parsing that fails at start with a message naming the variable at fault."""

import math
from pathlib import Path
from typing import Any, TypeVar

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()
Number = TypeVar("Number", int, float)

_DATABASE_SCHEMES = ("postgres", "postgresql", "pgsql", "sqlite")
_DATABASE_URL_HELP = "expected postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:////absolute/path.sqlite3"


def read_secret(name: str, *, default: Any = environ.Env.NOTSET) -> str:
    """Read NAME, or the file that NAME_FILE points at (Docker and Kubernetes secrets)."""
    file_name = env.str(f"{name}_FILE", default="")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name!r}: {exc.strerror}") from exc
    return env.str(name, default=default)


def ensure_folders(*paths: str | Path) -> None:
    for path in paths:
        Path(path).mkdir(parents=True, exist_ok=True)


def database_from_env(*, default_sqlite_path: Path, required: bool = False) -> dict[str, Any]:
    """DATABASES["default"] from DATABASE_URL, with the tuning each engine needs for our workload."""
    url = read_secret("DATABASE_URL") if required else read_secret("DATABASE_URL", default="")
    if not url:
        url = f"sqlite:///{default_sqlite_path}"
        default_sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in _DATABASE_SCHEMES:
        raise ImproperlyConfigured(f"DATABASE_URL: unsupported or missing scheme {scheme!r}; {_DATABASE_URL_HELP}")
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises bare ValueError/KeyError on malformed URLs
        raise ImproperlyConfigured(f"DATABASE_URL is malformed ({exc}); {_DATABASE_URL_HELP}") from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        return _tune_sqlite(config)
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"DATABASE_URL names no database; {_DATABASE_URL_HELP}")
    return _tune_postgres(config)


def _tune_sqlite(config: dict[str, Any]) -> dict[str, Any]:
    # Web, worker and beat share the file: WAL lets readers run beside the writer, and IMMEDIATE transactions
    # make writers queue on the busy timeout instead of failing with "database is locked" on upgrade.
    config["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    return config


DATABASE_POOL_MODES = ("persistent", "psycopg", "pgbouncer")


def _tune_postgres(config: dict[str, Any]) -> dict[str, Any]:
    """Connections as ``DATABASE_POOL`` says (docs/operations.md, "Database connections")."""
    options = config.setdefault("OPTIONS", {})
    options["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    mode = choice("DATABASE_POOL", DATABASE_POOL_MODES, default="persistent")
    if mode == "psycopg":
        return _psycopg_pool(config)
    # Persistent connections: opening one per request costs about 7x in requests/s (docs/benchmarks.md).
    config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    config["CONN_HEALTH_CHECKS"] = True
    if mode == "pgbouncer":
        # PgBouncer in transaction pooling hands each transaction to any server connection: nothing may outlive a
        # transaction. Server-side cursors (QuerySet.iterator) would be declared in one and read in the next.
        # (Django already turns off psycopg's prepared statements; the ingestion's temporary table is created in the
        # transaction that uses it.)
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
    return config


def _psycopg_pool(config: dict[str, Any]) -> dict[str, Any]:
    # psycopg's pool, one per process (Django 5.2 checks each connection before it lends it). Django refuses
    # persistent connections beside a pool: a connection goes back to the pool after each request.
    config["CONN_MAX_AGE"] = 0
    config["OPTIONS"]["pool"] = {
        "min_size": positive_number("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": positive_number("DATABASE_POOL_MAX_SIZE", default=4),
        "timeout": positive_number("DATABASE_POOL_TIMEOUT", default=10.0),  # seconds waiting for a free connection
    }
    if config["OPTIONS"]["pool"]["min_size"] > config["OPTIONS"]["pool"]["max_size"]:
        raise ImproperlyConfigured("DATABASE_POOL_MIN_SIZE must not be above DATABASE_POOL_MAX_SIZE")
    return config


def parse_networks(name: str, values: list[str]) -> list[str]:
    """CIDR networks (``10.0.0.0/8``, ``127.0.0.1``), normalised; a malformed one stops the process at start."""
    import ipaddress

    try:
        return [str(ipaddress.ip_network(value.strip(), strict=False)) for value in values if value.strip()]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}; expected networks such as 10.0.0.0/8,127.0.0.1/32") from exc


def positive_number(name: str, *, default: Number) -> Number:
    """NAME as a number above zero, of the default's type (a timeout, a size, a count); anything else stops the
    process at start, naming NAME."""
    raw = env.str(name, default="").strip()
    if not raw:
        return default
    try:
        value = type(default)(raw)
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise ImproperlyConfigured(f"{name}: {raw!r} is not {kind}") from None
    if not (math.isfinite(value) and value > 0):
        raise ImproperlyConfigured(f"{name}: must be a number above 0, got {raw!r}")
    return value


def choice(name: str, choices: tuple[str, ...], *, default: str) -> str:
    """NAME as one of ``choices`` (case-insensitive); anything else stops the process at start, naming NAME."""
    value = env.str(name, default=default).strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value
