#!/usr/bin/env bash
# Read the pipeline's history rows with SQLAlchemy-Continuum itself (the version OPS pins), as an
# independent check would: write.py (the project's Python) builds an OPS database from
# tests/ops_schema, creates one contract budget line and changes its amount twice through
# ops_pipeline.db.history; read.py (a scratch venv with SQLAlchemy-Continuum 1.7.0, never the
# project's) maps the line with Continuum and checks that versions(), changeset, previous/next
# and each version's transaction read back.
#
#   scripts/with-postgres.sh scripts/continuum_check/run.sh [PYTHON]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${1:-python}
venv=${CONTINUUM_VENV:-/tmp/ops-pipeline-continuum-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "sqlalchemy-continuum==1.7.0" "SQLAlchemy==2.0.52" "psycopg[binary]"
fi
out=$(PYTHONPATH="$root" "$python" "$here/write.py")
"$venv/bin/python" "$here/read.py" "$(echo "$out" | sed -n 1p)" "$(echo "$out" | sed -n 2p)"
