#!/usr/bin/env bash
# Installs the system tools the tests use as independent oracles and real parts:
# oathtool (codes), zbarimg (QR decoding), wrk (bench), Chromium (browser tests),
# systemd-analyze (checks deploy/twostep.service), faketime (a node whose clock is off).
# PostgreSQL 15 is already on these machines; the test session starts its own server.
set -euo pipefail
need=()
command -v oathtool >/dev/null || need+=(oathtool)
command -v zbarimg >/dev/null || need+=(zbar-tools)
command -v jq >/dev/null || need+=(jq)
command -v chromium >/dev/null || need+=(chromium)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v faketime >/dev/null || need+=(faketime)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing: ${need[*]} (run as root, or install them with apt-get)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
test -x /usr/lib/postgresql/15/bin/postgres || { echo "PostgreSQL 15 binaries not found" >&2; exit 1; }
