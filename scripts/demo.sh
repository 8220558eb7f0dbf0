#!/usr/bin/env bash
# The main job on the embedded default: a generated sample budget workbook through all five
# stages into a SQLite database (./ops.db), with the report on the terminal. Exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
OPS="$PWD/.venv/bin/ops-pipeline"
# OPS_PIPELINE_DEMO_DIR: where the demo writes its workbook, database and runs (default: here).
cd "${OPS_PIPELINE_DEMO_DIR:-.}"
$OPS sample sample-budget.xlsx --rows 300 >/dev/null
$OPS db init --db sqlite:///ops.db
$OPS run sample-budget.xlsx --db sqlite:///ops.db --accept-rejects
