"""migrate: a whole MAPS export set into OPS, in dependency order, in one transaction.

    plan      list the export's files (a folder, or an ``s3://`` prefix), recognise each file's
              dataset from its header, order them by MAPS tier then dataset name
    stages    each file through fetch → validate → transform in its own run directory (the audit
              trail of that file, as ``run`` leaves it)
    load      every run in plan order on one connection, in ONE transaction
              (:func:`ops_pipeline.stages.load.load_runs`): a later file's links resolve against
              an earlier file's rows, and the set lands completely or not at all
    report    each run's report, and the migration's own (per file and totals) in
              ``<runs root>/migrations/<migration id>/``: plan.json, report.json, report.md

A file that cannot be recognised, or two files of one dataset, stop the plan before anything is
touched. Rejected rows in any file stop the migration before the load unless ``accept_rejects``.
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataInvalid, PipelineError, UsageError
from .rundir import (RUN_ID, RunDir, atomic_write, check_runs_root, make_private_dir, new_run_id, read_json,
                     unusable_runs_root, utcnow, write_json)
from .stages.fetch import DEFAULT_MAX_BYTES
from .printable import printable
from .redact import scrub_text

#: Under the runs root: one folder per migration, beside the runs (``find_runs`` ignores it: it
#: holds no manifest).
MIGRATIONS = "migrations"
#: Bytes read from the start of each file to find its header.
HEADER_BYTES = 1 << 16
#: The entity counts a migration adds up.
COUNT_KEYS = ("inserted", "updated", "unchanged", "skipped", "rejected")


@dataclass(frozen=True)
class PlannedFile:
    """One file of the export: where it is, its name, and the dataset its header says it holds."""

    source: str
    name: str
    dataset: str
    tier: int
    size: int | None = None
    info: object | None = None  # an S3 ObjectInfo: the listed version is the one fetched

    def as_dict(self, order: int) -> dict:
        return {"order": order, "name": self.name, "dataset": self.dataset, "tier": self.tier,
                "size": self.size, "source": self.source}


@dataclass
class Plan:
    source: str
    files: list[PlannedFile]

    def as_dict(self) -> dict:
        return {"source": self.source, "files": [f.as_dict(i) for i, f in enumerate(self.files, 1)]}

    def lines(self) -> list[str]:
        """The plan as a person reads it: one line per file, in load order."""
        out = [f"plan: {len(self.files)} file{'s' if len(self.files) != 1 else ''} from {self.source}, in load order"]
        for i, f in enumerate(self.files, 1):
            size = f"{f.size:,} bytes" if f.size is not None else ""
            out.append(f"{i:>3}. {f.name:<40} {f.dataset:<38} tier {f.tier}  {size}".rstrip())
        return out


@dataclass
class Migration:
    """What :func:`migrate` did: the plan, the report (also written to the migration folder) and
    the error that stopped it (None when the set was loaded, or planned with ``dry_run``)."""

    plan: Plan
    report: dict
    error: PipelineError | None = None
    #: each planned file's run directory, in plan order (None for a file not reached)
    runs: list = field(default_factory=list)


# -- the plan ------------------------------------------------------------------------------------

def make_plan(source: str, *, endpoint_url: str | None = None, client=None) -> Plan:
    """List the export's files, recognise each one's dataset from its header and order them.

    ``source`` is a local folder (its files, not its subfolders; hidden files skipped) or an
    ``s3://bucket/prefix/`` (the objects directly under it). Nothing is written. Raises
    :class:`DataInvalid` naming the first file whose header is no known MAPS dataset's, or two
    files of one dataset (a migration takes one file per dataset: loading both would let the
    later one overwrite the earlier one's rows); :class:`UsageError` for an empty or missing
    folder.
    """
    if source.startswith("s3://"):
        found = _s3_files(source, endpoint_url, client)
    else:
        found = _local_files(source)
    if not found:
        raise UsageError(f"{source}: no export files there", hint="give the folder or s3:// prefix of a MAPS export")
    planned = []
    for location, name, size, info, head in found:
        # A file name is shown in the plan, the report and messages: one line, nothing a terminal
        # interprets, nothing that looks like an e-mail address or a number to mask.
        name = printable(scrub_text(name))
        dataset = _recognise(name, head)
        planned.append(PlannedFile(source=location, name=name, dataset=dataset.name, tier=dataset.tier,
                                   size=size, info=info))
    by_dataset: dict[str, list[str]] = {}
    for f in planned:
        by_dataset.setdefault(f.dataset, []).append(f.name)
    for dataset, names in sorted(by_dataset.items()):
        if len(names) > 1:
            raise DataInvalid(
                f"{len(names)} files hold {dataset}: {', '.join(sorted(names))}; a migration takes one file "
                "per dataset (the later would overwrite the earlier's rows)",
                hint=f"leave one of them in {source}")
    planned.sort(key=lambda f: (f.tier, f.dataset, f.name))
    return Plan(source=source, files=planned)


def _local_files(source: str) -> list[tuple]:
    folder = Path(source)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "no such folder"
        raise UsageError(f"{source}: {what}", hint="give the folder (or s3:// prefix) holding the export's files")
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
        found.append((str(path), path.name, path.stat().st_size, None, head))
    return found


def _s3_files(source: str, endpoint_url: str | None, client) -> list[tuple]:
    from .sources.s3 import list_objects, read_start
    from .stages.fetch_s3 import prefix_uri, s3_client

    bucket, prefix = prefix_uri(source)
    client = client or s3_client(endpoint_url)
    found = []
    for info in list_objects(client, bucket, prefix):
        rest = info.key[len(prefix):]
        name = rest.rsplit("/", 1)[-1]
        if "/" in rest or name.startswith("."):  # a "subfolder" (processed/, rejected/...) is not the export
            continue
        found.append((info.uri, name, info.size, info, read_start(client, info, HEADER_BYTES)))
    found.sort(key=lambda row: row[1])
    return found


def header_of(head: bytes) -> tuple[str, ...]:
    """The header row of a TSV file from its first bytes (BOM, CRLF and quoted cells handled)."""
    text = head.decode("utf-8-sig", errors="replace").replace("\x00", "")
    try:
        row = next(csv.reader(io.StringIO(text, newline=""), delimiter="\t"), [])
    except csv.Error:
        row = text.splitlines()[0].split("\t") if text else []
    return tuple(cell.strip() for cell in row)


def _recognise(name: str, head: bytes):
    from .maps import recognise

    try:
        return recognise(header_of(head))
    except PipelineError as error:
        error.file = error.file or name
        raise


# -- the migration folder --------------------------------------------------------------------------

def migrations_root(runs_root: Path | str) -> Path:
    return Path(runs_root) / MIGRATIONS


def _new_migration_dir(runs_root: Path | str, migration_id: str | None = None) -> tuple[str, Path]:
    root = migrations_root(runs_root)
    try:
        make_private_dir(root)
    except OSError as exc:
        raise unusable_runs_root(runs_root, exc) from None
    if migration_id is not None:  # named before it runs (a scheduler): made again when it exists
        if not RUN_ID.fullmatch(migration_id):
            raise UsageError(f"{migration_id!r} is not a migration id")
        make_private_dir(root / migration_id)
        return migration_id, root / migration_id
    for _ in range(5):
        migration_id = new_run_id()
        path = root / migration_id
        try:
            path.mkdir(mode=0o700)
            return migration_id, path
        except FileExistsError:
            continue
    raise UsageError(f"cannot create a new migration folder under {root}")  # pragma: no cover


# -- the migration ---------------------------------------------------------------------------------

def migrate(source: str, *, runs_root: Path | str, db_url: str | None = None, dry_run: bool = False,
            accept_rejects: bool = False, endpoint_url: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
            lock_wait: float | None = None, plan: Plan | None = None, on_file=None,
            migration_id: str | None = None) -> Migration:
    """Plan (unless ``plan`` is given), run every file through fetch, validate and transform in
    its own run directory, load them all in one transaction in plan order, report.

    Never raises a :class:`PipelineError` once the migration folder exists: the error that stopped
    the migration is the result's ``error`` (its report says where it stopped). ``on_file(i, file,
    run)`` is told as each file's run directory is made (the CLI shows progress).
    """
    from .pipeline import DEFAULT_LOCK_WAIT, Options, refusal, run_stage, start_run
    from .stages.load import load_runs

    check_runs_root(runs_root)
    plan = plan or make_plan(source, endpoint_url=endpoint_url)
    migration_id, folder = _new_migration_dir(runs_root, migration_id)
    started = time.perf_counter()
    started_at = utcnow()
    write_json(folder / "plan.json", {"migration_id": migration_id, "planned_at": started_at, **plan.as_dict()})
    options = Options(db_url=db_url, accept_rejects=accept_rejects, dry_run=dry_run,
                      lock_wait=DEFAULT_LOCK_WAIT if lock_wait is None else lock_wait)
    rerun = f"ops-pipeline migrate {source}"
    runs: list[RunDir | None] = [None] * len(plan.files)
    problems: dict[int, PipelineError] = {}
    results: list[dict] | None = None
    error: PipelineError | None = None
    crash: Exception | None = None
    try:
        for i, planned in enumerate(plan.files):
            try:
                run = _fetch(planned, runs_root, max_bytes, endpoint_url, start_run)
                runs[i] = run
                if on_file:
                    on_file(i + 1, planned, run)
                run_stage("validate", run, options)
                refused = refusal(run, options)
                if refused is not None:
                    raise refused
            except PipelineError as exc:
                exc.file = exc.file or planned.name
                problems[i] = exc
        if problems:
            raise _stopped(plan, problems, rerun)
        for i, run in enumerate(runs):
            try:
                run_stage("transform", run, options)
            except PipelineError as exc:
                exc.file = exc.file or plan.files[i].name
                raise
        results = load_runs(runs, db_url=db_url, dry_run=dry_run, lock_wait=options.lock_wait,
                            accept_rejects=accept_rejects, rerun=rerun)
    except PipelineError as exc:
        error = exc
        if not error.file and len(plan.files) == 1:  # load_runs names the file of a set of several only
            error.file = plan.files[0].name
    except Exception as exc:  # a bug: the migration's record still says where it stopped
        crash = exc
        error = PipelineError(f"internal error: {type(exc).__name__}")
    reports = [_run_report(run, run_stage) for run in runs]
    report = _migration_report(migration_id, folder, plan, runs, reports, results, problems, error,
                               dry_run=dry_run, started_at=started_at, seconds=time.perf_counter() - started)
    write_json(folder / "report.json", report)
    with atomic_write(folder / "report.md") as handle:
        handle.write(render_markdown(report))
    if crash is not None:
        raise crash
    return Migration(plan=plan, report=report, error=error, runs=runs)


def _fetch(planned: PlannedFile, runs_root, max_bytes, endpoint_url, start_run) -> RunDir:
    if planned.info is not None:
        from .stages.fetch_s3 import fetch_s3

        return fetch_s3(planned.source, runs_root, dataset=planned.dataset, max_bytes=max_bytes,
                        endpoint_url=endpoint_url, info=planned.info)
    return start_run(planned.source, runs_root, dataset=planned.dataset, max_bytes=max_bytes)


def _stopped(plan: Plan, problems: dict[int, PipelineError], rerun: str) -> PipelineError:
    """One error for the files that stop the migration before the load. A file that could not be
    processed (not a data problem) is raised as it is; data problems are summed up in one line."""
    for error in problems.values():
        if not isinstance(error, DataInvalid):
            return error
    if len(problems) == 1:
        return next(iter(problems.values()))
    names = "; ".join(f"{plan.files[i].name}: {e.message}" for i, e in sorted(problems.items()))
    accept = any("rejected" in e.message for e in problems.values())
    accept_hint = f", or load the valid rows with: {rerun} --accept-rejects" if accept else ""
    return DataInvalid(f"{len(problems)} files stop the migration, nothing was loaded: {names}",
                       hint=f"fix the files{accept_hint}")


def _run_report(run: RunDir | None, run_stage) -> dict | None:
    if run is None:
        return None
    try:
        return run_stage("report", run)
    except PipelineError:
        return None


def _add(total: dict, counts: dict) -> None:
    for key, value in counts.items():
        if isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value


def _migration_report(migration_id, folder, plan, runs, reports, results, problems, error, *, dry_run,
                      started_at, seconds) -> dict:
    files = []
    totals: dict = {"files": len(plan.files), "rows": {}, "entities": {}, "findings": {}, "history": {},
                    "unresolved": {}}
    for i, planned in enumerate(plan.files):
        run, data = runs[i], reports[i]
        loaded = results[i] if results is not None else None
        entry = {**planned.as_dict(i + 1), "run_id": run.run_id if run else None,
                 "run_dir": str(run.path) if run else None, "status": data["status"] if data else "not-run",
                 "rows": data["rows"] if data else {}, "entities": {}, "history": {}, "findings": {},
                 "unresolved": {}}
        entry.pop("source")
        if run is not None and (run.path / "validate" / "summary.json").is_file() and data \
                and data["stages"]["validate"]["status"] in ("succeeded", "failed"):
            _add(entry["findings"], read_json(run.path / "validate" / "summary.json").get("findings", {}))
        if loaded is not None:
            entry["entities"] = loaded["entities"]
            entry["history"] = loaded["history"] or {}
            # References OPS has no record for, by what they point to ({label: {references, records}}).
            entry["unresolved"] = loaded.get("unresolved") or {}
            _add(entry["findings"], loaded["findings"])
            if dry_run:
                entry["status"] = "planned"
        entry["findings"] = dict(sorted(entry["findings"].items()))
        if i in problems:
            entry["error"] = problems[i].as_dict()
        elif data and data.get("error"):
            entry["error"] = {k: v for k, v in data["error"].items() if k in ("stage", "code", "message", "file")}
        files.append(entry)
        for key in ("rows", "entities", "findings", "history"):
            _add(totals[key], entry[key])
        for label, counts in entry["unresolved"].items():  # distinct records are per file: not added up
            _add(totals["unresolved"].setdefault(label, {}), {"references": counts.get("references", 0)})
    totals["findings"] = dict(sorted(totals["findings"].items()))
    if error is None:
        status = "planned" if dry_run else "loaded"
    else:
        status = "invalid" if isinstance(error, DataInvalid) else "failed"
    database = next((r["database"] for r in results or [] if r.get("database")), None)
    report = {
        "migration_id": migration_id,
        "status": status,
        "dry_run": dry_run,
        "source": plan.source,
        "started_at": started_at,
        "finished_at": utcnow(),
        "seconds": round(seconds, 3),
        "database": database,
        "files": files,
        "totals": totals,
        "migration_dir": str(folder),
    }
    if error is not None:
        report["error"] = {"code": error.code, "message": error.one_line(),
                           **({"file": error.file} if error.file else {})}
    return report


# -- rendering -------------------------------------------------------------------------------------

def _counts_text(counts: dict) -> str:
    shown = [f"{counts.get(k, 0)} {k}" for k in COUNT_KEYS
             if counts.get(k) or k in ("inserted", "updated", "unchanged")]
    return ", ".join(shown)


def render_text(report: dict) -> str:
    """The migration's report for a terminal."""
    lines = [f"migration {report['migration_id']}: {report['status']}"
             f"{' (dry run: rolled back, nothing written)' if report['dry_run'] else ''}"
             f" - {len(report['files'])} files from {report['source']} in {report['seconds']:.1f} s"]
    for f in report["files"]:
        rows = f["rows"]
        read = f"{rows.get('read', 0)} rows, {rows.get('rejected', 0)} rejected" if rows else "not read"
        lines.append(f"{f['order']:>3}. {f['name']} ({f['dataset']}): {f['status']}; {read}")
        for kind, counts in f["entities"].items():
            lines.append(f"       {kind}: {_counts_text(counts)}")
        if f["findings"]:
            lines.append("       findings: " + ", ".join(f"{n} {code}" for code, n in f["findings"].items()))
        if f.get("error"):
            lines.append(f"       error: {f['error'].get('message')}")
    totals = report["totals"]
    lines.append("totals:")
    for kind, counts in totals["entities"].items():
        lines.append(f"  {kind}: {_counts_text(counts)}")
    if totals["findings"]:
        lines.append("  findings: " + ", ".join(f"{n} {code}" for code, n in totals["findings"].items()))
    if totals["history"]:
        lines.append("  history: " + ", ".join(f"{n} {table}" for table, n in totals["history"].items()))
    if totals["unresolved"]:
        lines.append("  unresolved references: " + ", ".join(
            f"{c['references']} to {label}" for label, c in totals["unresolved"].items()))
    if report.get("error"):
        lines.append(f"stopped: {report['error']['message']}")
    lines.append(f"report: {report['migration_dir']}")
    return "\n".join(lines) + "\n"


def render_markdown(report: dict) -> str:
    """The migration's report.md: per file, then totals, every finding code named."""
    out = [f"# Migration {report['migration_id']}: {report['status']}", "",
           f"- Source: `{report['source']}`", f"- Started: {report['started_at']}, {report['seconds']:.1f} s",
           f"- Dry run: {'yes (rolled back, nothing written)' if report['dry_run'] else 'no'}"]
    if report.get("error"):
        out.append(f"- Stopped: {report['error']['message']}")
    out += ["", "| # | File | Dataset | Status | Rows read | Rejected | Inserted | Updated | Unchanged | Findings |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for f in report["files"]:
        sums: dict = {}
        for counts in f["entities"].values():
            _add(sums, counts)
        findings = ", ".join(f"{code} {n}" for code, n in f["findings"].items()) or "none"
        out.append(f"| {f['order']} | {f['name']} | {f['dataset']} | {f['status']} | {f['rows'].get('read', 0)} | "
                   f"{f['rows'].get('rejected', 0)} | {sums.get('inserted', 0)} | {sums.get('updated', 0)} | "
                   f"{sums.get('unchanged', 0)} | {findings} |")
    out += ["", "## Totals", "", "| Entity | Inserted | Updated | Unchanged | Skipped | Rejected |",
            "|---|---|---|---|---|---|"]
    for kind, counts in report["totals"]["entities"].items():
        out.append(f"| {kind} | " + " | ".join(str(counts.get(k, 0)) for k in COUNT_KEYS) + " |")
    out += ["", "Findings: " + (", ".join(f"{code} {n}" for code, n in report["totals"]["findings"].items()) or "none"),
            "", "History: " + (", ".join(f"{table} {n}" for table, n in report["totals"]["history"].items()) or "none"),
            "", "Unresolved references (by what they point to): " + (", ".join(
                f"{label} {c['references']}" for label, c in report["totals"]["unresolved"].items()) or "none"),
            ""]
    return "\n".join(out)
