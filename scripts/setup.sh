#!/usr/bin/env bash
# Idempotent set-up of the tools the tests need, on a fresh machine of the rust-svc kind
# (Debian bookworm, Rust toolchain, PostgreSQL on 127.0.0.1:5432; no Docker):
#
#   * Tansu 0.6.0, the Kafka-compatible test broker, with the patches in scripts/tansu/, built once
#     by scripts/tansu/build.sh and cached in ${KPI_TOOLS_DIR:-$HOME/.cache/kpi-tools}/tansu-0.6.0-kpi1
#     (12-25 minutes on 2 cores, then 0 s);
#   * promtool and amtool, from Debian's prometheus and prometheus-alertmanager packages
#     (no daemon is left running: tests start their own on random ports);
#   * docker-compose (v1.29, Debian's package, /usr/bin/docker-compose), only to check
#     docker-compose.yml (`config -q`): no Docker engine is installed or needed;
#   * PostgreSQL up and accepting connections on 127.0.0.1.
#
# Safe to run again and again; it only does what is missing. Prints where each tool is.
set -euo pipefail

# 0.6.0 and the patch level of scripts/tansu/: raise the suffix when a patch changes, so that
# machines with the older build make the new one.
TANSU_VERSION=0.6.0-kpi1
TOOLS_DIR="${KPI_TOOLS_DIR:-$HOME/.cache/kpi-tools}"
TANSU_ROOT="$TOOLS_DIR/tansu-$TANSU_VERSION"
TANSU_BIN="$TANSU_ROOT/bin/tansu"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); fi
fi

mkdir -p "$TOOLS_DIR"
# One set-up at a time (two test runs starting together must not build Tansu twice).
exec 9>"$TOOLS_DIR/.setup.lock"
if ! flock -n 9; then
    say "another scripts/setup.sh is running; waiting for it to finish..."
    flock 9
fi

# --- Tansu -------------------------------------------------------------------------------------
if [ -x "$TANSU_BIN" ]; then
    say "tansu $TANSU_VERSION: cached at $TANSU_BIN"
else
    say "tansu $TANSU_VERSION: not cached; building it into $TANSU_ROOT"
    say "  (this takes 12-25 minutes on 2 cores, once per machine; the binary is cached afterwards)"
    started=$SECONDS
    bash "$(dirname "${BASH_SOURCE[0]}")/tansu/build.sh" "$TANSU_ROOT"
    [ -x "$TANSU_BIN" ] || die "the build finished but $TANSU_BIN is missing"
    say "tansu $TANSU_VERSION: built in $((SECONDS - started)) s"
fi

# --- promtool / amtool -------------------------------------------------------------------------
stop_debian_daemons() {
    # The packages' maintainer scripts may start daemons (on machines without a policy-rc.d that
    # denies it). Tests use their own random ports; don't leave these holding 9090/9093/9100.
    local exe
    for exe in /usr/bin/prometheus /usr/bin/prometheus-alertmanager /usr/bin/prometheus-node-exporter; do
        if [ -x "$exe" ]; then
            "${SUDO[@]}" start-stop-daemon --stop --oknodo --quiet --retry 10 --exec "$exe" || true
        fi
    done
}

# apt-get install ARGS..., with the packages' init scripts kept from starting daemons.
apt_install() {
    local temp_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        temp_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$temp_policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$temp_policy"
        trap '"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
    if [ -n "$temp_policy" ]; then
        "${SUDO[@]}" rm -f "$temp_policy"
        trap - EXIT
    fi
}

if command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1; then
    say "promtool/amtool: already installed"
else
    say "promtool/amtool: installing Debian packages prometheus and prometheus-alertmanager"
    apt_install prometheus prometheus-alertmanager
    command -v promtool >/dev/null 2>&1 || die "promtool still missing after apt-get install prometheus"
    command -v amtool >/dev/null 2>&1 || die "amtool still missing after apt-get install prometheus-alertmanager"
fi
stop_debian_daemons

# --- docker-compose ----------------------------------------------------------------------------
if command -v docker-compose >/dev/null 2>&1; then
    say "docker-compose: already installed"
else
    # Without its recommended docker.io: only `docker-compose config` is used, no engine.
    say "docker-compose: installing Debian package docker-compose"
    apt_install --no-install-recommends docker-compose
    command -v docker-compose >/dev/null 2>&1 || die "docker-compose still missing after apt-get install docker-compose"
fi

# --- OpenSSL and TLS test tools ---------------------------------------------------------------
# librdkafka (rdkafka's `ssl` feature) and sqlx (native-tls) link OpenSSL; tests/kpi-e2e/tests/tls.rs
# makes a throw-away CA with the openssl command line and fronts the broker with socat.
if command -v openssl >/dev/null 2>&1 && command -v socat >/dev/null 2>&1 \
    && command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; then
    say "openssl, socat, OpenSSL headers: already installed"
else
    say "openssl, socat, OpenSSL headers: installing Debian packages"
    apt_install --no-install-recommends openssl socat libssl-dev pkg-config
fi

# --- PostgreSQL --------------------------------------------------------------------------------
if pg_isready -q -h 127.0.0.1 -p 5432; then
    say "postgresql: accepting connections on 127.0.0.1:5432"
else
    [ -d /etc/postgresql ] || die "PostgreSQL is not installed (no /etc/postgresql)"
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    say "postgresql: not answering; starting cluster $version/main"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 0.5
    done
    pg_isready -h 127.0.0.1 -p 5432 >/dev/null || die "PostgreSQL did not come up on 127.0.0.1:5432"
    say "postgresql: up"
fi

# --- Summary -----------------------------------------------------------------------------------
say "tools:"
say "  tansu     $TANSU_BIN ($("$TANSU_BIN" --version 2>/dev/null || echo "version unknown"))"
say "  promtool  $(command -v promtool) ($(promtool --version 2>&1 | head -n 1))"
say "  amtool    $(command -v amtool) ($(amtool --version 2>&1 | head -n 1))"
say "  compose   $(command -v docker-compose) ($(docker-compose version --short 2>/dev/null || echo "version unknown"))"
say "  psql      $(command -v psql || echo missing); server: postgres://postgres@127.0.0.1:5432/postgres"
say "  cargo     $(command -v cargo) ($(cargo --version))"
say "set-up done; export KPI_TANSU_BIN=$TANSU_BIN for tests run without scripts/test.sh"
