#!/bin/sh
# The image's entry point: `twostep serve` without arguments, else the twostep command given
# (`migrate`, `serve --no-migrate`, `keys init`, `org list`...). Settings come from the
# environment, TWOSTEP_SECRETS_DIR and TWOSTEP_CONFIG (docs/configuration.md).
set -eu
venv=${TWOSTEP_VENV:-/opt/twostep/venv}
mkdir -p "${TWOSTEP_DATA_DIR:-var}"
[ "$#" -gt 0 ] || set -- serve
exec "$venv/bin/twostep" "$@"
