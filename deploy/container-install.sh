#!/bin/sh
# Build Twostep's wheel from the source in the current directory and install it, with the
# versions requirements.lock pins for its dependencies, in a fresh virtual environment
# PREFIX/venv. The Dockerfile's build stage runs this; so does a test, in a temporary directory.
#   usage: sh deploy/container-install.sh PREFIX      (UV and PYTHON may name the tools)
set -eu
prefix=${1:?usage: container-install.sh PREFIX}
uv=${UV:-uv}
python=${PYTHON:-python3}

"$uv" build --wheel --out-dir "$prefix/wheels" .
"$uv" venv --python "$python" "$prefix/venv"
# Constraints, not requirements: only what the wheel itself declares is installed, at the
# locked versions, so a dependency missing from pyproject.toml shows up as a broken install.
"$uv" pip install --python "$prefix/venv/bin/python" --constraint requirements.lock \
  "$prefix"/wheels/twostep-*.whl
