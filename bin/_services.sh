# Throwaway PostgreSQL and Redis on loopback high ports, for bin/test (and benchmarks).
# shellcheck shell=bash

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"

# Run as the postgres user when we are root: initdb refuses to run as root.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DIR PORT : initialise a cluster in DIR and start it on 127.0.0.1:PORT with a database "onboarding".
pg_start() {
    local dir="$1" port="$2"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_postgres "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 \
        || { cat "$dir.initdb.log" >&2; return 1; }
    # Durability off: a test cluster is thrown away, and fsync dominates its run time otherwise.
    local options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    # PG_EXTRA_OPTS: more server options, set by bin/bench only (bin/test starts the server exactly as above).
    [ -n "${PG_EXTRA_OPTS:-}" ] && options="$options $PG_EXTRA_OPTS"
    as_postgres "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 -o "$options" \
        start >/dev/null || { cat "$dir/server.log" >&2; return 1; }
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres onboarding
}

pg_stop() {
    local dir="$1"
    [ -f "$dir/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m immediate -w -t 20 stop >/dev/null 2>&1
    return 0
}

# redis_start DIR PORT : a Redis with no persistence on 127.0.0.1:PORT.
redis_start() {
    local dir="$1" port="$2"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no --dir "$dir" \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    wait_for "Redis on port $port" 20 redis-cli -p "$port" ping
}

redis_stop() {
    local dir="$1"
    [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null
    return 0
}

# start_services : throwaway PostgreSQL and Redis on free loopback ports, stopped when the calling script exits.
# Exports DATABASE_URL, CELERY_BROKER_URL and CELERY_RESULT_BACKEND, and where the servers keep their files.
start_services() {
    SERVICES_DIR="$(mktemp -d /tmp/onboarding-services.XXXXXX)"
    chmod 755 "$SERVICES_DIR"
    trap 'pg_stop "$SERVICES_DIR/pg"; redis_stop "$SERVICES_DIR/redis"; rm -rf "$SERVICES_DIR"' EXIT
    local pg_port redis_port
    pg_port="$(free_port)"
    redis_port="$(free_port)"
    log "Starting PostgreSQL on 127.0.0.1:$pg_port and Redis on 127.0.0.1:$redis_port"
    pg_start "$SERVICES_DIR/pg" "$pg_port"
    redis_start "$SERVICES_DIR/redis" "$redis_port"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/onboarding"
    export CELERY_BROKER_URL="redis://127.0.0.1:$redis_port/0"
    export CELERY_RESULT_BACKEND="redis://127.0.0.1:$redis_port/1"
    export ONBOARDING_TEST_PGDATA="$SERVICES_DIR/pg" ONBOARDING_TEST_REDIS_DIR="$SERVICES_DIR/redis"
    export ONBOARDING_TEST_REDIS_PORT="$redis_port"
}
