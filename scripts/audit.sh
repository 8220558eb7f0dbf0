#!/usr/bin/env bash
# Dependency audit: the packages installed in the project's virtualenv against the known-advisory
# database, with pip-audit (installed into .venv if missing).
#
#   scripts/audit.sh            audit; fail (exit 1) on any known vulnerability
#   AUDIT_STRICT=1 scripts/audit.sh
#                               also fail (exit 2) when the advisory service cannot be reached
#   AUDIT_IGNORE="GHSA-xxxx PYSEC-yyyy" scripts/audit.sh
#                               accept these advisories (write down why in SECURITY.md)
#   AUDIT_SERVICE=osv scripts/audit.sh
#                               ask OSV (osv.dev) instead of PyPI's vulnerability data
#
# Exit codes: 0 no known vulnerability (or, with a WARNING, the service could not be asked);
# 1 vulnerabilities found; 2 the audit could not run (only with AUDIT_STRICT=1).
#
# pip-audit needs the advisory service, not just the package index. Where only a package
# mirror is reachable, PyPI answers the per-version metadata requests with 404 and pip-audit
# reports every package as "not found on PyPI and could not be audited" -- and then, misleadingly,
# "No known vulnerabilities found". This script treats that as "not audited": a WARNING naming
# the cause and exit 0 (exit 2 with AUDIT_STRICT=1), never a silent pass.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
SERVICE=${AUDIT_SERVICE:-pypi}

warn_or_fail() {
    echo "WARNING: dependency audit NOT done: $1" >&2
    if [ "${AUDIT_STRICT:-0}" = "1" ]; then
        exit 2
    fi
    exit 0
}

if [ ! -x "$PY" ]; then
    echo "error: no virtualenv at $VENV (run scripts/setup.sh first)" >&2
    exit 2
fi

if [ -z "${AUDIT_REPORT_FILE:-}" ] && ! "$PY" -m pip_audit --version >/dev/null 2>&1; then
    echo "installing pip-audit into $VENV ..." >&2
    if ! "$PY" -m pip install --quiet --disable-pip-version-check pip-audit >&2; then
        warn_or_fail "pip-audit could not be installed (is the package registry reachable?)"
    fi
fi

ignore_args=()
for id in ${AUDIT_IGNORE:-}; do
    ignore_args+=(--ignore-vuln "$id")
done

report=$(mktemp)
errors=$(mktemp)
trap 'rm -f "$report" "$errors"' EXIT

set +e
if [ -n "${AUDIT_REPORT_FILE:-}" ]; then
    # For checking this script: judge a saved pip-audit JSON report instead of running it.
    cp "$AUDIT_REPORT_FILE" "$report"; status=1
else
    "$PY" -m pip_audit --local --skip-editable --vulnerability-service "$SERVICE" --format json \
        --progress-spinner off "${ignore_args[@]}" >"$report" 2>"$errors"
    status=$?
fi
set -e

# pip-audit exits 1 both for "vulnerabilities found" and for a failure to run: read its JSON.
set +e
"$PY" - "$report" "$errors" "$status" "$SERVICE" <<'PYTHON'
import json
import sys

report_path, errors_path, status, service = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
errors = open(errors_path, encoding="utf-8", errors="replace").read()
try:
    report = json.load(open(report_path, encoding="utf-8"))
except ValueError:
    report = None

NETWORK = ("ConnectionError", "ConnectTimeout", "ReadTimeout", "NameResolutionError", "Max retries exceeded",
           "Temporary failure in name resolution", "Network is unreachable", "Connection refused",
           "SSLError", "ProxyError")
if report is None:
    last = errors.strip().splitlines()[-1:] or ["(no output)"]
    if any(word in errors for word in NETWORK):
        print(f"UNREACHABLE the {service} vulnerability service: {last[0][:200]}")
        sys.exit(3)
    print(f"pip-audit failed (exit {status}): {last[0][:300]}", file=sys.stderr)
    sys.exit(2)

deps = report.get("dependencies", [])
vulnerable = [d for d in deps if d.get("vulns")]
skipped = [d for d in deps if d.get("skip_reason")]
audited = len(deps) - len(skipped)
for dep in vulnerable:
    for vuln in dep["vulns"]:
        fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
        print(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
print(f"audited {audited} of {len(deps)} installed packages against {service}; "
      f"{len(vulnerable)} with known vulnerabilities")
if vulnerable:
    sys.exit(1)
not_found = [d for d in skipped if "not found on PyPI" in d["skip_reason"]]
if deps and len(not_found) > len(deps) // 2:
    # Every package "not found": the per-version metadata that carries PyPI's advisories is not
    # reachable from here (a package mirror, not PyPI itself).
    print(f"UNREACHABLE PyPI's vulnerability data: {len(not_found)} of {len(deps)} packages came back "
          "'not found on PyPI' (only a package mirror is reachable)")
    sys.exit(3)
for dep in skipped:
    print(f"not audited: {dep['name']}: {dep['skip_reason']}")
sys.exit(0)
PYTHON
verdict=$?
set -e
case $verdict in
    0) exit 0 ;;
    1) echo "error: known vulnerabilities in the installed dependencies (see above)" >&2; exit 1 ;;
    3) warn_or_fail "the advisory database could not be reached from this machine (network); rerun where PyPI's JSON API or osv.dev is reachable" ;;
    *) if [ "${AUDIT_STRICT:-0}" = "1" ]; then exit 2; fi
       echo "WARNING: dependency audit NOT done: pip-audit could not run (see above)" >&2; exit 0 ;;
esac
