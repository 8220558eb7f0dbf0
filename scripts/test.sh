#!/usr/bin/env bash
# Every test on a fresh machine: the virtualenv and package, a throwaway PostgreSQL server,
# then pytest (SQLite and PostgreSQL) and behave. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure-chromium.sh  # the HTML report is checked in a real browser
# Nothing may skip here: a missing prerequisite (the corpus, PostgreSQL, the server the crash
# tests stop and start) fails the run, and so does any skipped test or scenario.
export OPS_PIPELINE_REQUIRE_ALL=1
export OPS_PIPELINE_REQUIRE_PG=1
export PYTHONDONTWRITEBYTECODE=1
scripts/with-postgres.sh bash -c '
    set -euo pipefail
    .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
    .venv/bin/behave --format progress --no-capture-stderr features
' -- "$@"
