#!/usr/bin/env bash
# A one-off job on the poller app's droplet (same code, same locked dependencies, same service
# bindings), e.g. loading one file by hand. The MAPS migration will run the same way with
# `python -m ops_pipeline migrate ...` (it takes the same --archive option).
# Usage: deploy/run-task.example.sh s3://BUCKET/incoming/budget.xlsx
# The archive comes from the app's OPS_PIPELINE_ARCHIVE; `cf logs ops-pipeline-poller --recent`
# shows the task's output, `cf tasks ops-pipeline-poller` its state.
set -euo pipefail
SOURCE=${1:?usage: $0 s3://BUCKET/KEY}
cf run-task ops-pipeline-poller --name "load-$(date -u +%Y%m%dT%H%M%SZ)" --memory 1G --disk 2G \
    --command "python -m ops_pipeline run $SOURCE --format md"
