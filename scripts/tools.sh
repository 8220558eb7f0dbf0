#!/usr/bin/env bash
# The lock and SBOM tools (uv, cyclonedx-bom) in their own virtualenv, .venv-tools, installed
# from requirements-dev.lock with --require-hashes. Never part of the deployed app.
# Idempotent: does nothing when the lock has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
STAMP=.venv-tools/.installed-from
WANT=$(sha256sum requirements-dev.lock | cut -d' ' -f1)
if [ -x .venv-tools/bin/python ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
    exit 0
fi
[ -x .venv-tools/bin/python ] || "$PYTHON" -m venv .venv-tools
.venv-tools/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r requirements-dev.lock 2> >(grep -v -e "is ignored: it is neither a file nor a directory" >&2)
echo "$WANT" >"$STAMP"
