#!/usr/bin/env bash
# Refresh the locked dependencies from pyproject.toml: every package pinned to one version with
# the sha256 of each of its files, for Python 3.11 on Linux x86_64 (cloud.gov's cflinuxfs4).
#
#   requirements.lock       the runtime dependencies (what cloud.gov installs: requirements.txt)
#   requirements-test.lock  the runtime and the test dependencies (scripts/setup.sh, CI)
#   requirements-dev.lock   the tools that make these files and the SBOM (uv, cyclonedx-bom)
#
# Versions already locked are kept unless pyproject.toml needs another one; pass --upgrade to
# take the newest allowed versions (then review the diff, and run scripts/sbom.sh).
# The tools run from their own virtualenv (.venv-tools), installed from requirements-dev.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
UPGRADE=()
if [ "${1:-}" = "--upgrade" ]; then UPGRADE=(--upgrade); fi
scripts/tools.sh
UV=.venv-tools/bin/uv
# --no-config: no user or machine index settings leak into the lock; only PyPI is used.
compile() {
    local out=$1; shift
    "$UV" pip compile pyproject.toml "$@" "${UPGRADE[@]}" --generate-hashes --no-config \
        --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
        --index-url https://pypi.org/simple --no-header --quiet -o "$out"
}
compile requirements.lock
# The test lock also pins the build backend, so that setup.sh builds the editable install
# without fetching an unpinned setuptools.
printf 'setuptools>=68\nwheel\n' >.build-requirements.in
trap 'rm -f .build-requirements.in' EXIT
compile requirements-test.lock --extra test .build-requirements.in
compile requirements-dev.lock --extra dev
echo "locked: requirements.lock requirements-test.lock requirements-dev.lock" >&2
