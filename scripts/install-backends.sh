#!/usr/bin/env bash
# Installs the real backends the ignored tests talk to (see tests/prometheus.rs):
#   prometheus and promtool (Debian package `prometheus`).
#
# Idempotent: does nothing when they are already on PATH. Starts nothing: the tests start their
# own processes on 127.0.0.1 and stop them. Services the package would start on install (its
# postinst enables one listening on 0.0.0.0:9090) are kept from starting, and stopped if one
# started anyway.
set -euo pipefail

missing() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || return 0
    done
    return 1
}

if ! missing prometheus promtool; then
    echo "install-backends: prometheus and promtool are installed: $(command -v prometheus), $(command -v promtool)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-backends: prometheus/promtool are missing and there is no apt-get here; install Prometheus 2.x by hand" >&2
    exit 1
fi

# Root runs apt-get directly; anyone else needs sudo.
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-backends: prometheus/promtool are missing and installing them needs root (no sudo found)" >&2
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

echo "install-backends: installing prometheus (with promtool)"
if ! "${as_root[@]}" apt-get update; then
    echo "install-backends: apt-get update failed" >&2
    exit 1
fi
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus; then
    echo "install-backends: apt-get install prometheus failed" >&2
    exit 1
fi

# Belt and braces: if systemd runs here and started the service anyway, stop it.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    "${as_root[@]}" systemctl stop prometheus.service >/dev/null 2>&1 || true
fi

if missing prometheus promtool; then
    echo "install-backends: the install finished but prometheus/promtool are still not on PATH" >&2
    exit 1
fi
echo "install-backends: $(prometheus --version 2>&1 | head -n 1)"
echo "install-backends: promtool at $(command -v promtool)"
