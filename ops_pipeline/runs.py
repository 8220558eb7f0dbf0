"""The run history and the source-file ledger, for people who audit what the pipeline did.

A run is known from two places: its directory under the runs root (every run, loaded or not, until
someone deletes it) and its record in the database (every run that was loaded, with the data, for
good). :func:`list_runs` joins them by run id; a run found in one place only says so.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from .errors import UsageError
from .rundir import FAILED, MANIFEST, STAGES, SUCCEEDED, find_runs, read_json

#: What a run's status can be (as the report says it).
RUN_STATUSES = ("succeeded", "dry-run", "invalid", "failed", "interrupted", "incomplete")


def run_status(manifest: dict) -> str:
    """A run's outcome from its manifest alone (as the report words it)."""
    stages = manifest.get("stages", {})
    report = stages.get("report", {})
    if report.get("status") == SUCCEEDED and (report.get("counts") or {}).get("status"):
        return report["counts"]["status"]
    statuses = {name: stages.get(name, {}).get("status") for name in STAGES}
    if FAILED in statuses.values():
        return "failed"
    if statuses["load"] == SUCCEEDED:
        return "succeeded"
    if statuses["validate"] == SUCCEEDED and stages["validate"].get("outcome") == "invalid":
        return "invalid"
    if "running" in statuses.values():
        return "interrupted"
    return "incomplete"


def _date(text: str | None, name: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{name} must be a date like 2026-11-29, not {text!r}") from None


def _iso(moment) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _database_runs(db_url: str | None) -> tuple[dict[str, dict], str | None]:
    """The database's run records by id, and the database's URL (None: no database given)."""
    from .db.engine import connected, resolve_url
    from .db.models import PipelineRun

    try:
        url = resolve_url(db_url)
    except UsageError:
        if db_url:
            raise
        return {}, None
    table = PipelineRun.__table__
    with connected(url) as conn:
        found = {row["id"]: dict(row) for row in conn.execute(select(table)).mappings()}
    return found, url


def _from_directory(path: Path) -> dict:
    manifest = read_json(path / MANIFEST)
    source = manifest.get("source", {})
    validate = manifest.get("stages", {}).get("validate", {})
    rows = validate.get("counts") if validate.get("status") in (SUCCEEDED, FAILED, "stale") else None
    return {
        "run_id": manifest["run_id"],
        "started_at": manifest.get("created_at"),
        "dataset": manifest.get("dataset"),
        "source": source.get("uri") or source.get("name"),
        "sha256": source.get("sha256"),
        "status": run_status(manifest),
        "rows": rows or None,
        "loaded": None,
        "in_database": False,
        "run_dir": str(path),
    }


def list_runs(runs_root: Path | str, *, db_url: str | None = None, status: str | None = None,
              dataset: str | None = None, since: str | None = None, until: str | None = None) -> dict:
    """The runs, newest first, filtered; with the number of runs per status.

    Returns ``{"runs": [...], "counts": {status: n}, "total", "database": bool}``. Each run:
    ``run_id, started_at, dataset, source, sha256, status, rows, loaded, in_database, run_dir``;
    ``loaded`` is the per-entity counts the database recorded (None when not loaded).
    """
    first, last = _date(since, "--since"), _date(until, "--until")
    if status and status not in RUN_STATUSES:
        raise UsageError(f"--status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
    recorded, url = _database_runs(db_url)
    runs = {}
    for path in find_runs(runs_root):
        try:
            entry = _from_directory(path)
        except (OSError, ValueError, KeyError):
            continue  # not a run directory this tool can read: not part of the history
        runs[entry["run_id"]] = entry
    for run_id, record in recorded.items():
        entry = runs.setdefault(run_id, {
            "run_id": run_id, "started_at": _iso(record["started_at"]), "dataset": record["dataset"],
            "source": record["source"], "sha256": record["file_sha256"], "status": "succeeded", "rows": None,
            "loaded": None, "in_database": True, "run_dir": None})
        entry["in_database"] = True
        entry["loaded"] = record["counts"] or {}
    selected = []
    for entry in runs.values():
        day = _day(entry["started_at"])
        if status and entry["status"] != status or dataset and entry["dataset"] != dataset:
            continue
        if first and (day is None or day < first) or last and (day is None or day > last):
            continue
        selected.append(entry)
    selected.sort(key=lambda e: (e["started_at"] or "", e["run_id"]), reverse=True)
    counts: dict[str, int] = {}
    for entry in selected:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return {"runs": selected, "counts": dict(sorted(counts.items())), "total": len(selected),
            "database": url is not None}


def _day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def show_run(runs_root: Path | str, run_id: str, *, db_url: str | None = None) -> dict:
    """One run: its entry in :func:`list_runs`, its stages, and its source-file ledger rows."""
    listed = [r for r in list_runs(runs_root, db_url=db_url)["runs"] if r["run_id"] == run_id]
    path = Path(run_id)
    if not listed and (path / MANIFEST).is_file():
        listed = [_from_directory(path)]
    if not listed:
        raise UsageError(f"no run {run_id!r} in {runs_root} or in the database")
    entry = dict(listed[0])
    entry["stages"] = {}
    if entry["run_dir"]:
        manifest = read_json(Path(entry["run_dir"]) / MANIFEST)
        for name in STAGES:
            info = manifest["stages"].get(name, {})
            entry["stages"][name] = {k: info.get(k) for k in ("status", "started_at", "finished_at")}
            if info.get("error"):
                entry["stages"][name]["error"] = info["error"].get("message")
    entry["files"] = list_files(db_url=db_url, run_id=entry["run_id"])["files"] if _has_database(db_url) else []
    return entry


def _has_database(db_url: str | None) -> bool:
    from .db.engine import resolve_url

    try:
        resolve_url(db_url)
    except UsageError:
        return False
    return True


def list_files(*, db_url: str | None = None, outcome: str | None = None, run_id: str | None = None,
               since: str | None = None) -> dict:
    """The source-file ledger, newest first: each object version, its outcome and its run.

    Returns ``{"files": [...], "counts": {outcome: n}, "total"}``.
    """
    from .db.engine import connected, resolve_url
    from .db.models import SourceFile
    from .ledger import OUTCOMES

    if outcome and outcome not in OUTCOMES:
        raise UsageError(f"--outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    first = _date(since, "--since")
    table = SourceFile.__table__
    query = select(table).order_by(table.c.first_seen_at.desc(), table.c.id.desc())
    if outcome:
        query = query.where(table.c.outcome == outcome)
    if run_id:
        query = query.where(table.c.run_id == run_id)
    files = []
    with connected(resolve_url(db_url)) as conn:
        for row in conn.execute(query).mappings():
            seen = _iso(row["first_seen_at"])
            if first and (_day(seen) is None or _day(seen) < first):
                continue
            files.append({"location": row["location"], "version_id": row["version_id"], "etag": row["etag"],
                          "size": row["size"], "sha256": row["sha256"], "outcome": row["outcome"],
                          "run_id": row["run_id"], "first_seen_at": seen,
                          "finished_at": _iso(row["finished_at"])})
    counts: dict[str, int] = {}
    for entry in files:
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    return {"files": files, "counts": dict(sorted(counts.items())), "total": len(files)}


# -- for a terminal -------------------------------------------------------------------------------

def _rows_text(rows: dict | None) -> str:
    if not rows:
        return "-"
    return f"{rows.get('read', 0)} read, {rows.get('rejected', 0)} rejected"


def render_runs(data: dict) -> str:
    lines = []
    for run in data["runs"]:
        where = "db+dir" if run["in_database"] and run["run_dir"] else ("db" if run["in_database"] else "dir")
        lines.append(f"{run['started_at'] or '?':<24}  {run['run_id']:<24}  {run['status']:<11}  "
                     f"{run['dataset'] or '?':<16}  {_rows_text(run['rows']):<22}  {where:<6}  {run['source'] or ''}")
    counts = ", ".join(f"{n} {status}" for status, n in data["counts"].items())
    lines.append(f"{data['total']} run{'s' if data['total'] != 1 else ''}" + (f": {counts}" if counts else "")
                 + ("" if data["database"] else " (runs root only: no database given)"))
    return "\n".join(lines)


def render_run(run: dict) -> str:
    lines = [f"Run {run['run_id']}  status: {run['status']}  dataset: {run['dataset']}",
             f"Started: {run['started_at']}",
             f"Source: {run['source']}  sha256 {run['sha256']}",
             f"Rows: {_rows_text(run['rows'])}",
             f"In the database: {'yes' if run['in_database'] else 'no'}"]
    for entity, counts in (run["loaded"] or {}).items():
        lines.append(f"  {entity}: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    for name, stage in run["stages"].items():
        error = f"  ({stage['error']})" if stage.get("error") else ""
        lines.append(f"Stage {name:<9} {stage['status'] or '-':<10} {stage['finished_at'] or ''}{error}")
    for entry in run["files"]:
        lines.append(f"Ledger: {_file_line(entry)}")
    lines.append(f"Run directory: {run['run_dir'] or '(gone)'}")
    return "\n".join(lines)


def _file_line(entry: dict) -> str:
    version = entry["version_id"] or (f"etag {entry['etag']}" if entry["etag"] else "-")
    return (f"{entry['first_seen_at'] or '?':<24}  {entry['outcome']:<11}  {entry['run_id'] or '-':<24}  "
            f"{entry['location']}  version {version}  sha256 {(entry['sha256'] or '-')[:16]}")


def render_files(data: dict) -> str:
    lines = [_file_line(entry) for entry in data["files"]]
    counts = ", ".join(f"{n} {outcome}" for outcome, n in data["counts"].items())
    plural = "s" if data["total"] != 1 else ""
    lines.append(f"{data['total']} object version{plural}" + (f": {counts}" if counts else ""))
    return "\n".join(lines)
