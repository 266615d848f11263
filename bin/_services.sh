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

stop_services() {
    pg_stop "$SERVICES_DIR/pg"
    redis_stop "$SERVICES_DIR/redis"
    local slapd
    for slapd in "$SERVICES_DIR"/slapd "$SERVICES_DIR"/*/slapd; do  # and those tests started in it (TLS)
        slapd_stop "$slapd"
    done
    rm -rf "$SERVICES_DIR"
}

# start_services : throwaway PostgreSQL, Redis and slapd on free loopback ports, stopped when the calling script
# exits. Exports DATABASE_URL, CELERY_BROKER_URL and CELERY_RESULT_BACKEND, where the servers keep their files, and
# the directory's URL and root DN's credentials (ONBOARDING_TEST_LDAP_*).
start_services() {
    SERVICES_DIR="$(mktemp -d /tmp/onboarding-services.XXXXXX)"
    chmod 755 "$SERVICES_DIR"
    trap stop_services EXIT
    local pg_port redis_port ldap_port
    pg_port="$(free_port)"
    redis_port="$(free_port)"
    ldap_port="$(free_port)"
    log "Starting PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port and slapd on 127.0.0.1:$ldap_port"
    pg_start "$SERVICES_DIR/pg" "$pg_port"
    redis_start "$SERVICES_DIR/redis" "$redis_port"
    slapd_start "$SERVICES_DIR/slapd" "$ldap_port"
    export ONBOARDING_TEST_LDAP_URL="ldap://127.0.0.1:$ldap_port/" ONBOARDING_TEST_LDAP_BIND_DN="$SLAPD_ROOTDN"
    ONBOARDING_TEST_LDAP_BIND_PASSWORD="$(cat "$SERVICES_DIR/slapd/rootpw")"
    export ONBOARDING_TEST_LDAP_BIND_PASSWORD
    export ONBOARDING_TEST_LDAP_DIR="$SERVICES_DIR/slapd"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/onboarding"
    export CELERY_BROKER_URL="redis://127.0.0.1:$redis_port/0"
    export CELERY_RESULT_BACKEND="redis://127.0.0.1:$redis_port/1"
    export ONBOARDING_TEST_PGDATA="$SERVICES_DIR/pg" ONBOARDING_TEST_REDIS_DIR="$SERVICES_DIR/redis"
    export ONBOARDING_TEST_REDIS_PORT="$redis_port"
}

# slapd: a throwaway OpenLDAP directory (dc=example,dc=com, mdb, memberOf maintained) for the LDAP source's tests
# and benchmark. The root DN's password is random, kept in DIR/rootpw (mode 600).
SLAPD_BIN="/usr/sbin/slapd"
SLAPD_SUFFIX="dc=example,dc=com"
SLAPD_ROOTDN="cn=admin,$SLAPD_SUFFIX"

as_openldap() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u openldap -- "$@"; else "$@"; fi
}

# slapd_init DIR : write DIR/slapd.conf and an empty database holding the suffix entry. TLS when
# SLAPD_TLS_CERT_FILE and SLAPD_TLS_KEY_FILE name a server certificate and its key (copied into DIR).
slapd_init() {
    local dir="$1" password tls=""
    mkdir -p "$dir/data"
    password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    (umask 077 && printf '%s' "$password" >"$dir/rootpw")
    if [ -n "${SLAPD_TLS_CERT_FILE:-}" ]; then
        cp "$SLAPD_TLS_CERT_FILE" "$dir/server.crt"
        cp "${SLAPD_TLS_KEY_FILE:?SLAPD_TLS_KEY_FILE: the key of SLAPD_TLS_CERT_FILE}" "$dir/server.key"
        tls="TLSCertificateFile $dir/server.crt
TLSCertificateKeyFile $dir/server.key"
    fi
    cat >"$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload refint
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
sizelimit unlimited
$tls

database mdb
maxsize 4294967296
suffix "$SLAPD_SUFFIX"
rootdn "$SLAPD_ROOTDN"
rootpw $(/usr/sbin/slappasswd -s "$password")
directory $dir/data
# Durability off: the directory is thrown away, like the test PostgreSQL.
dbnosync
index objectClass,entryUUID,uid,member,uniqueMember eq

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
overlay refint
refint_attributes member uniqueMember
CONF
    printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n' "$SLAPD_SUFFIX" \
        >"$dir/base.ldif"
    [ "$(id -u)" -eq 0 ] && chown -R openldap: "$dir"
    as_openldap /usr/sbin/slapadd -q -f "$dir/slapd.conf" -l "$dir/base.ldif" >"$dir/slapadd.log" 2>&1 \
        || { cat "$dir/slapadd.log" >&2; return 1; }
}

# slapd_run DIR PORT : start slapd on DIR's configuration, ldap://127.0.0.1:PORT/ (and ldaps:// on
# SLAPD_LDAPS_PORT when set), and wait until the root DN can bind.
slapd_run() {
    local dir="$1" port="$2" urls="ldap://127.0.0.1:$2/" user=()
    [ -n "${SLAPD_LDAPS_PORT:-}" ] && urls="$urls ldaps://127.0.0.1:$SLAPD_LDAPS_PORT/"
    [ "$(id -u)" -eq 0 ] && user=(-u openldap -g openldap)
    printf '%s\n' "$port" >"$dir/port"
    "$SLAPD_BIN" -f "$dir/slapd.conf" -h "$urls" "${user[@]}" >"$dir/slapd.log" 2>&1 \
        || { cat "$dir/slapd.log" >&2; /usr/sbin/slaptest -f "$dir/slapd.conf" >&2; return 1; }
    wait_for "slapd on port $port" 20 ldapwhoami -x -H "ldap://127.0.0.1:$port/" -D "$SLAPD_ROOTDN" -y "$dir/rootpw"
}

# slapd_start DIR PORT : a new directory in DIR served on 127.0.0.1:PORT.
slapd_start() {
    slapd_init "$1" && slapd_run "$1" "$2"
}

slapd_stop() {
    local dir="$1" pid
    [ -f "$dir/slapd.pid" ] || return 0
    pid="$(cat "$dir/slapd.pid")"
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    return 0
}

# slapd_load DIR LDIF : bulk-load LDIF with slapadd (much faster than ldapadd; overlays do not run, so the LDIF
# carries memberOf itself), stopping the server for it and starting it again on the same port.
slapd_load() {
    local dir="$1" ldif="$2" port
    port="$(cat "$dir/port")"
    slapd_stop "$dir"
    as_openldap /usr/sbin/slapadd -q -f "$dir/slapd.conf" -l "$ldif" >"$dir/slapadd.log" 2>&1 \
        || { tail -n 20 "$dir/slapadd.log" >&2; return 1; }
    slapd_run "$dir" "$port"
}
