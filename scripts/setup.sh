#!/usr/bin/env bash
# Create the virtualenv (.venv) and install ops-pipeline with its test dependencies, exactly as
# locked: every package from requirements-test.lock with --require-hashes (the versions and
# files the SBOM lists), then the package itself, editable, with --no-deps.
# Idempotent and quiet: when neither the lock nor pyproject.toml changed since the last install
# (a stamp of their sha256 in .venv), it installs nothing and prints nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
STAMP=.venv/.installed-from
WANT=$(cat requirements-test.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] \
        && .venv/bin/python -c "import ops_pipeline, behave, pytest" >/dev/null 2>&1; then
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
rm -f "$STAMP"
# (pip's notes about this machine's unreachable extra indexes are noise: filtered out.)
NOISE=(-e 'is ignored: it is neither a file nor a directory')
"${PIP[@]}" install --require-hashes --no-deps -r requirements-test.lock 2> >(grep -v "${NOISE[@]}" >&2)
# The build backend (setuptools, wheel) came from the lock too: no isolated build environment
# that would fetch an unpinned setuptools.
"${PIP[@]}" install --no-deps --no-build-isolation -e . 2> >(grep -v "${NOISE[@]}" >&2)
.venv/bin/python -c "import ops_pipeline, behave, pytest" >/dev/null
echo "$WANT" >"$STAMP"
