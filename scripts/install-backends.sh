#!/usr/bin/env bash
# Installs the real backends the ignored tests talk to (see tests/prometheus.rs and
# tests/backends_smoke.rs):
#   prometheus and promtool (Debian package `prometheus`),
#   prometheus-alertmanager (Debian package of that name),
#   prometheus-pushgateway (Debian package of that name, for tests/pushgateway.rs),
#   the openssl command (for the TLS tests' certificates),
#   redis-server (Debian package `redis-server`),
#   chromium (Debian package of that name, headless, for tests/live_page.rs),
#   PostgreSQL's initdb/pg_ctl/postgres/pg_isready under /usr/lib/postgresql/<version>/bin
#   (Debian package `postgresql`),
#   and a Python venv at target/otel-venv with pinned PyPI packages for the OTLP tests: the rotel
#   collector (its binary is target/otel-venv/lib/python3*/site-packages/rotel/rotel-agent) and
#   the official OTLP types that scripts/otlp_sink.py decodes with (opentelemetry-proto, protobuf,
#   grpcio), the aiosmtpd SMTP sink for tests/alerts_smtp.rs, and prometheus-client (the official
#   Python parsers of both exposition formats) for tests/exposition_parsers.rs, and the Grafana
#   Foundation SDK (Grafana's dashboard schema) for scripts/grafana_schema_check.py. `python3 -m venv`
#   needs Debian package `python3-venv`, installed when it is missing.
#
# Idempotent: does nothing when they are already installed (the venv keeps the pins it was made
# with in target/otel-venv/obs-pins.txt, and is made anew when they differ). Starts nothing: the
# tests start their own processes on 127.0.0.1 and stop them. Services the packages would start on
# install (their postinsts enable ones listening on 0.0.0.0:9090, 127.0.0.1:6379 and
# 127.0.0.1:5432) are kept from starting, and stopped if one started anyway.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

otel_venv="$repo/target/otel-venv"
otel_pins=(
    rotel==0.0.1a15
    opentelemetry-proto==1.45.2
    protobuf==7.36.2
    grpcio==1.85.3
    typing_extensions==4.16.0 # grpcio's dependency
    aiosmtpd==1.4.6 # the SMTP sink of tests/alerts_smtp.rs
    atpublic==9.0.0 # aiosmtpd's dependencies
    attrs==26.1.0
    prometheus-client==0.26.0 # the official text and OpenMetrics parsers of tests/exposition_parsers.rs
    'grafana-foundation-sdk==1769699379!11.6.0' # Grafana's dashboard schema, for scripts/grafana_schema_check.py
)
otel_marker="$otel_venv/obs-pins.txt"

# Whether the venv exists, was made with these pins and imports them.
otel_venv_current() {
    [ "$(cat "$otel_marker" 2>/dev/null)" = "$(printf '%s\n' "${otel_pins[@]}")" ] &&
        "$otel_venv/bin/python" -c 'import rotel, grpc, opentelemetry.proto, aiosmtpd, prometheus_client.openmetrics.parser, grafana_foundation_sdk.models.dashboard' >/dev/null 2>&1
}

install_otel_venv() {
    if [ "$otel_venv_ok" -eq 1 ]; then
        echo "install-backends: the OTLP venv is installed: $otel_venv"
        return
    fi
    local log
    log=$(mktemp)
    # --clear: a venv made with other pins (or a python3 that is gone) is made anew.
    if ! python3 -m venv --clear "$otel_venv" >"$log" 2>&1 ||
        ! "$otel_venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
            "${otel_pins[@]}" >>"$log" 2>&1 ||
        ! "$otel_venv/bin/python" -c 'import rotel, grpc, opentelemetry.proto, aiosmtpd, prometheus_client.openmetrics.parser, grafana_foundation_sdk.models.dashboard' >>"$log" 2>&1; then
        echo "install-backends: making the OTLP venv $otel_venv failed:" >&2
        cat "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
    printf '%s\n' "${otel_pins[@]}" >"$otel_marker"
    echo "install-backends: made the OTLP venv $otel_venv: ${otel_pins[*]}"
}

missing() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || return 0
    done
    return 1
}

# The bin directory of the newest PostgreSQL under /usr/lib/postgresql, if any.
postgres_bin() {
    local initdb
    initdb=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)
    [ -n "$initdb" ] && dirname "$initdb"
}

# Debian packages to install, and the services they bring along.
packages=()
services=()
if missing prometheus promtool; then
    packages+=(prometheus)
    services+=(prometheus)
else
    echo "install-backends: prometheus and promtool are installed: $(command -v prometheus), $(command -v promtool)"
fi
if missing prometheus-alertmanager; then
    packages+=(prometheus-alertmanager)
    services+=(prometheus-alertmanager)
else
    echo "install-backends: prometheus-alertmanager is installed: $(command -v prometheus-alertmanager)"
fi
if missing prometheus-pushgateway; then
    packages+=(prometheus-pushgateway)
    services+=(prometheus-pushgateway)
else
    echo "install-backends: prometheus-pushgateway is installed: $(command -v prometheus-pushgateway)"
fi
if missing redis-server; then
    packages+=(redis-server)
    services+=(redis-server)
else
    echo "install-backends: redis-server is installed: $(command -v redis-server)"
fi
if ! pg_bin=$(postgres_bin); then
    packages+=(postgresql)
    services+=(postgresql)
else
    echo "install-backends: postgresql is installed: $pg_bin"
fi

# tests/live_page.rs renders the live page in a real browser (headless).
if missing chromium; then
    packages+=(chromium)
else
    echo "install-backends: chromium is installed: $(command -v chromium)"
fi

# The TLS tests make their certificates with the openssl command.
if missing openssl; then
    packages+=(openssl)
else
    echo "install-backends: openssl is installed: $(command -v openssl)"
fi

# Tls::system() reads the system's CA bundle (its unit test loads Debian's).
if [ ! -f /etc/ssl/certs/ca-certificates.crt ]; then
    packages+=(ca-certificates)
else
    echo "install-backends: the system CA bundle is installed: /etc/ssl/certs/ca-certificates.crt"
fi

otel_venv_ok=0
if otel_venv_current; then
    otel_venv_ok=1
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    # Debian's python3 has no ensurepip (so no `python3 -m venv`) without python3-venv.
    packages+=(python3-venv)
fi

if [ "${#packages[@]}" -eq 0 ]; then
    install_otel_venv
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-backends: ${packages[*]} are missing and there is no apt-get here; install them by hand" >&2
    exit 1
fi

# Root runs apt-get directly; anyone else needs sudo.
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-backends: ${packages[*]} are missing and installing them needs root (no sudo found)" >&2
    exit 1
fi

# invoke-rc.d asks /usr/sbin/policy-rc.d whether it may start a service; exit code 101 says no.
# Keep an existing policy (container images often have one); otherwise add ours for the install.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Written by obs scripts/install-backends.sh for the duration of an install.\nexit 101\n' |
        "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    added_policy=1
fi
remove_policy() {
    if [ "$added_policy" -eq 1 ]; then
        "${as_root[@]}" rm -f "$policy"
    fi
}
trap remove_policy EXIT

echo "install-backends: installing ${packages[*]}"
if ! "${as_root[@]}" apt-get update; then
    echo "install-backends: apt-get update failed" >&2
    exit 1
fi
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"; then
    echo "install-backends: apt-get install ${packages[*]} failed" >&2
    exit 1
fi

# Belt and braces: if a service of a package installed just now started anyway, stop it (only
# those: a service that ran before this script is someone else's).
for service in "${services[@]}"; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        "${as_root[@]}" systemctl stop "$service.service" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$service" ]; then
        # Stopping a service that is not running is harmless; policy-rc.d does not apply here.
        "${as_root[@]}" "/etc/init.d/$service" stop >/dev/null 2>&1 || true
    fi
done

for package in "${packages[@]}"; do
    case "$package" in
        prometheus)
            if missing prometheus promtool; then
                echo "install-backends: the install finished but prometheus/promtool are still not on PATH" >&2
                exit 1
            fi
            echo "install-backends: $(prometheus --version 2>&1 | head -n 1)"
            echo "install-backends: promtool at $(command -v promtool)"
            ;;
        prometheus-alertmanager)
            if missing prometheus-alertmanager; then
                echo "install-backends: the install finished but prometheus-alertmanager is still not on PATH" >&2
                exit 1
            fi
            echo "install-backends: $(prometheus-alertmanager --version 2>&1 | head -n 1)"
            ;;
        prometheus-pushgateway)
            if missing prometheus-pushgateway; then
                echo "install-backends: the install finished but prometheus-pushgateway is still not on PATH" >&2
                exit 1
            fi
            echo "install-backends: $(prometheus-pushgateway --version 2>&1 | head -n 1)"
            ;;
        chromium)
            if missing chromium; then
                echo "install-backends: the install finished but chromium is still not on PATH" >&2
                exit 1
            fi
            echo "install-backends: $(chromium --version 2>&1 | head -n 1)"
            ;;
        redis-server)
            if missing redis-server; then
                echo "install-backends: the install finished but redis-server is still not on PATH" >&2
                exit 1
            fi
            echo "install-backends: $(redis-server --version 2>&1 | head -n 1)"
            ;;
        postgresql)
            if ! pg_bin=$(postgres_bin); then
                echo "install-backends: the install finished but /usr/lib/postgresql/*/bin/initdb is still missing" >&2
                exit 1
            fi
            echo "install-backends: $("$pg_bin/postgres" --version 2>&1 | head -n 1) in $pg_bin"
            ;;
        python3-venv)
            if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
                echo "install-backends: the install finished but \`python3 -m venv\` is still unavailable" >&2
                exit 1
            fi
            ;;
    esac
done

install_otel_venv
