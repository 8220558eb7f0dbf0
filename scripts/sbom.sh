#!/usr/bin/env bash
# The software bill of materials of what cloud.gov deploys: CycloneDX 1.6 JSON built from
# requirements.lock (each component with its version, PyPI purl and the locked sha256 hashes),
# the main component described by pyproject.toml.
#   scripts/sbom.sh                 writes sbom.cdx.json
#   scripts/sbom.sh FILE [LOCK]     writes FILE from LOCK (e.g. requirements-test.lock)
# cyclonedx-bom runs from .venv-tools (scripts/tools.sh); it is not a runtime dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-sbom.cdx.json}
LOCK=${2:-requirements.lock}
scripts/tools.sh
PYTHONWARNINGS=ignore::UserWarning .venv-tools/bin/cyclonedx-py requirements "$LOCK" --pyproject pyproject.toml --mc-type application \
    --spec-version 1.6 --output-format JSON --output-reproducible --validate -o "$OUT"
echo "SBOM of $LOCK written to $OUT" >&2
