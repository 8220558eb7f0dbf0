#!/usr/bin/env bash
# ensure-chromium.sh: install Debian's Chromium when it is missing, for the test that opens the
# HTML report in a real headless browser (tests/test_report_html.py). Quiet when it is there.
# Like with-postgres.sh installs PostgreSQL: with apt-get, as root, once.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
    command -v "$name" >/dev/null 2>&1 && exit 0
done
log() { echo "ensure-chromium: $*" >&2; }
if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
    log "Chromium not found and cannot install it here (needs root and apt-get): install the 'chromium' package"
    exit 1
fi
log "Chromium not found, installing it with apt-get (one-off)"
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
