#!/usr/bin/env bash
# Installs the real backends the ignored tests talk to (see tests/prometheus.rs and
# tests/backends_smoke.rs):
#   prometheus and promtool (Debian package `prometheus`),
#   redis-server (Debian package `redis-server`),
#   PostgreSQL's initdb/pg_ctl/postgres/pg_isready under /usr/lib/postgresql/<version>/bin
#   (Debian package `postgresql`).
#
# Idempotent: does nothing when they are already installed. Starts nothing: the tests start their
# own processes on 127.0.0.1 and stop them. Services the packages would start on install (their
# postinsts enable ones listening on 0.0.0.0:9090, 127.0.0.1:6379 and 127.0.0.1:5432) are kept
# from starting, and stopped if one started anyway.
set -euo pipefail

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

if [ "${#packages[@]}" -eq 0 ]; then
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
    esac
done
