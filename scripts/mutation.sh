#!/usr/bin/env bash
# Mutation testing of the modules that carry the promises (slow: not part of CI).
#
#   scripts/mutation.sh [MODULE...]     MODULE: ledger notify rundir load redact (default: all)
#                                       load-all: every function of db/load.py (900 mutants, hours)
#
# Installs mutmut into .venv when missing (the `mutation` extra), mutates only the functions
# listed below (setup.cfg [mutmut] names the files and the SQLite tests that run; a
# [mutmut:MODULE] section with `tests =` narrows them for one module), prints killed/total per
# module and every mutant still alive. Each module runs in its own copy of the project,
# build/mutation/MODULE (its mutants/ and mutmut.log are there):
#   cd build/mutation/MODULE && ../../../.venv/bin/mutmut show NAME      # the diff of one mutant
# MUTMUT_CHILDREN sets the number of parallel workers (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || scripts/setup.sh
.venv/bin/python -c "import mutmut" 2>/dev/null || .venv/bin/pip install -q -e '.[test,mutation]'

# Functions per module: the promises, not the whole file where the file holds more (notify.py
# also renders and sends e-mail; rundir.py also creates runs and logs events; "load" is the
# transaction, the run record, lineage and the lock, not the upsert matching of db/load.py).
declare -A GLOBS=(
  [ledger]="ops_pipeline.ledger.*"
  [notify]="ops_pipeline.notify.x_sign_webhook__mutmut_* ops_pipeline.notify.x_verify_webhook__mutmut_* ops_pipeline.notify.x_webhook_body__mutmut_*"
  [rundir]="ops_pipeline.rundir.x_sha256_file__* ops_pipeline.rundir.x_atomic_write__* ops_pipeline.rundir.x_write_json__* ops_pipeline.rundir.xǁJsonLinesWriterǁ* ops_pipeline.rundir.x_write_jsonl__* ops_pipeline.rundir.x_read_jsonl__* ops_pipeline.rundir.xǁRunDirǁrequire__* ops_pipeline.rundir.xǁRunDirǁverify_outputs__* ops_pipeline.rundir.xǁRunDirǁbegin__* ops_pipeline.rundir.xǁRunDirǁsucceed__* ops_pipeline.rundir.xǁRunDirǁfail__* ops_pipeline.rundir.xǁRunDirǁ_mark_later_stale__* ops_pipeline.rundir.xǁRunDirǁoutput_record__* ops_pipeline.rundir.xǁRunDirǁinput_record__*"
  [load]="ops_pipeline.stages.load.* ops_pipeline.db.load.xǁLoaderǁload__* ops_pipeline.db.load.xǁLoaderǁ_flush_lineage__* ops_pipeline.db.load.xǁLoaderǁ_trace__* ops_pipeline.db.load.x_prepare_connection__* ops_pipeline.db.load.x_concurrent_message__*"
  [load-all]="ops_pipeline.db.load.* ops_pipeline.stages.load.* ops_pipeline.db.entities.*"
  [redact]="ops_pipeline.redact.*"
)
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(ledger notify rundir load redact)

mutmut=$PWD/.venv/bin/mutmut
for module in "${modules[@]}"; do
  [ -n "${GLOBS[$module]:-}" ] || { echo "unknown module: $module (one of: ${!GLOBS[*]})" >&2; exit 2; }
  echo "== mutmut: $module"
  # A copy of the project per module, with setup.cfg's [mutmut] test selection replaced by the
  # module's own ([mutmut:MODULE] tests =) where it has one; mutmut's state stays there between runs.
  work=build/mutation/$module
  mkdir -p "$work"
  cp -a ops_pipeline tests pyproject.toml "$work"/
  .venv/bin/python - "$module" "$work/setup.cfg" <<'EOF'
import configparser
import sys

module, target = sys.argv[1:]
cfg = configparser.ConfigParser(interpolation=None)
cfg.read("setup.cfg", encoding="utf-8")
own = f"mutmut:{module}"
if cfg.has_option(own, "tests"):
    cfg["mutmut"]["pytest_add_cli_args_test_selection"] = cfg[own]["tests"]
with open(target, "w", encoding="utf-8") as out:
    cfg.write(out)
EOF
  # shellcheck disable=SC2086  # the globs are for mutmut, not the shell
  set -f
  (cd "$work" && "$mutmut" run --max-children "${MUTMUT_CHILDREN:-2}" ${GLOBS[$module]} >mutmut.log 2>&1) \
    || { tail -30 "$work/mutmut.log"; exit 1; }
  set +f
done

echo
echo "== score (killed / total; a timeout counts as killed)"
results=$(mktemp) specs=$(mktemp)
trap 'rm -f "$results" "$specs"' EXIT
for module in "${modules[@]}"; do
  echo "$module ${GLOBS[$module]}"
  (cd "build/mutation/$module" && "$mutmut" results --all true) >>"$results"
done >"$specs"
.venv/bin/python - "$results" "$specs" <<'EOF'
import fnmatch
import sys

status = {}
for line in open(sys.argv[1], encoding="utf-8"):
    name, _, result = line.strip().rpartition(": ")
    if name:
        status[name] = result
alive = []
for line in open(sys.argv[2], encoding="utf-8"):
    module, *globs = line.split()
    mine = {n: s for n, s in status.items() if any(fnmatch.fnmatchcase(n, g) for g in globs)}
    killed = sum(s in ("killed", "timeout", "caught by type check") for s in mine.values())
    checked = sum(s != "not checked" for s in mine.values())
    print(f"{module:8} {killed:4} / {checked:4}" + (f"  ({100 * killed / checked:.0f}%)" if checked else "")
          + (f"  ({len(mine) - checked} not checked: run interrupted)" if checked < len(mine) else ""))
    alive += sorted(f"{n}: {s}" for n, s in mine.items()
                    if s not in ("killed", "timeout", "caught by type check", "not checked"))
print()
print("== alive (cd build/mutation/MODULE && ../../../.venv/bin/mutmut show NAME: the diff)")
print("\n".join(alive) or "none")
EOF
