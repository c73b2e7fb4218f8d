#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, and nothing when it is all there:
# PostgreSQL's server binaries, Prometheus and promtool (the monitoring tests), Java and Maven
# (for the Kafka broker), make, uv, the Python workspace (.venv, from uv.lock) and the Kafka
# broker jars (.local/kafka/libs).
# Safe to run again and again; `make install`, `make run`, `make test` and .ci/run call it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION=0.13.8
PYTHON_VERSION=3.11
export UV_PYTHON_DOWNLOADS=never
export DEBIAN_FRONTEND=noninteractive

say() { echo "bootstrap: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        say "root needed for: $*"
        return 1
    fi
}

apt_updated=0
apt_install() {
    say "installing $* (apt)"
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_postgres() {
    local dir
    for dir in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" \
        /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/pg_ctl" ]; then
            return 0
        fi
    done
    return 1
}

find_python() {
    local candidate
    for candidate in "python$PYTHON_VERSION" python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))"; then
            echo "$candidate"
            return 0
        fi
    done
    say "Python $PYTHON_VERSION not found"
    return 1
}

have_postgres || apt_install postgresql
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    apt_install prometheus
    # The tests start their own Prometheus on a free port; the system service the package
    # enables would only hold :9090 (docker compose's monitoring profile wants it).
    if [ -d /run/systemd/system ]; then
        as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi
command -v java >/dev/null 2>&1 || apt_install default-jre-headless
command -v mvn >/dev/null 2>&1 || apt_install maven
command -v make >/dev/null 2>&1 || apt_install make

python="$(find_python)"
if command -v uv >/dev/null 2>&1; then
    uv=(uv)
else
    if ! "$python" -m uv --version >/dev/null 2>&1; then
        say "installing uv $UV_VERSION (pip)"
        "$python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
    fi
    uv=("$python" -m uv)  # works even when pip's script folder is not on PATH
fi

"${uv[@]}" sync --quiet --frozen --all-packages --python "$PYTHON_VERSION"
"${uv[@]}" run --no-sync python -m wallet_devtools.kafka install
