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
# pytest runs one worker per core (at most four; pytest-xdist), each test file on one worker so
# that a file's shared fixtures are built once; then the tests that must run alone (marked
# serial: one stops the PostgreSQL server the others use). Tests named on the command line run
# one at a time, as asked.
scripts/with-postgres.sh bash -c '
    set -euo pipefail
    if [ $# -gt 0 ]; then
        .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
    else
        .venv/bin/python -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4 --dist loadfile -m "not serial"
        # only the files that hold serial tests are collected (collecting them all takes ~15 s)
        serial=$(grep -l "mark.serial" tests/test_*.py || true)
        if [ -n "$serial" ]; then
            .venv/bin/python -m pytest -q -p no:cacheprovider -m serial $serial
        fi
    fi
    .venv/bin/behave --format progress --no-capture-stderr features
' -- "$@"
