#!/usr/bin/env bash
# Create the virtualenv (.venv) and install ops-pipeline with its test dependencies.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 \
    | grep -v -e 'is ignored: it is neither a file nor a directory' >&2 || true
.venv/bin/python -c "import ops_pipeline, behave, pytest" >/dev/null
