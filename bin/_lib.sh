# Shared by bin/serve and bin/test: idempotent installs, so both work on a fresh Debian machine as root.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON_BIN:-python3}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ensure_debs PACKAGE... : install the Debian packages that are missing (one apt-get update per run at most).
ensure_debs() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "Installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv [EXTRAS] : create .venv and install the project with its pinned dependencies when they changed.
ensure_venv() {
    local extras="${1:-}" spec="." stamp
    [ -n "$extras" ] && spec=".[$extras]"
    if [ ! -x "$VENV/bin/python" ]; then
        log "Creating the virtualenv in .venv"
        "$PYTHON_BIN" -m venv "$VENV"
    fi
    local installed="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    stamp="$installed-${extras:-base}"
    # The test extras include everything the base needs: bin/serve after bin/test installs nothing.
    if [ ! -f "$stamp" ] && { [ -n "$extras" ] || [ ! -f "$installed-test" ]; }; then
        log "Installing Python dependencies ($spec)"
        "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT/$spec" 2> >(grep -v "is ignored: it is neither" >&2)
        touch "$stamp"
    fi
}

# free_port : print a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    "$PYTHON_BIN" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for DESCRIPTION SECONDS COMMAND... : poll COMMAND until it succeeds, failing after SECONDS.
wait_for() {
    local what="$1" seconds="$2"
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            log "Gave up waiting for $what after ${seconds}s"
            return 1
        fi
        sleep 0.2
    done
}
