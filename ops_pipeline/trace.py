"""Where a record in OPS came from: every run that created or changed it, newest first.

A record is named by its entity (a dataset's declared entity: ``budget_line_item``, ``can``,
``project``, ``agreement``; its table name or label work too) and either its OPS id or its natural
key (the first column of the entity's declared key: a CAN's number, a project's title, an
agreement's name, compared as the load compares them: ignoring case and runs of spaces).

The lineage table says which runs loaded the record and from which sheet and rows; the run table
gives the time, source and sha256; the source-file ledger adds the object version of an ``s3://``
source. What each run changed comes from OPS's own history, the Continuum ``<table>_version``
rows the load wrote under the run's transaction, compared with the version before it (parent
and subtype table together). A PII column's old and new values are masked, as in the report.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from .errors import UsageError
from .redact import mask_value
from .rundir import read_json

#: Columns every version row has that say nothing about the record itself.
_NOT_CHANGES = frozenset({"created_by", "created_on", "updated_by", "updated_on", "transaction_id",
                          "end_transaction_id", "operation_type"})
ACTIONS = {0: "created", 1: "updated", 2: "deleted"}


def find_spec(entity: str):
    """The declared entity called ``entity`` (name, OPS table or label) in any installed dataset,
    with the PII fields of the dataset that declares it."""
    from .datasets.registry import dataset_names, get_dataset

    wanted = entity.strip().casefold().replace("-", "_").replace(" ", "_")
    known = []
    for name in dataset_names():
        dataset = get_dataset(name)
        for spec in dataset.entities():
            if not spec.insert:
                continue
            known.append(spec.name)
            names = {spec.name, spec.table.name, spec.called.casefold().replace(" ", "_")}
            if wanted in names:
                return spec, dataset.pii_fields()
    raise UsageError(f"no entity called {entity!r}: one of {', '.join(sorted(set(known)))}")


def trace(entity: str, ident: str, *, db_url: str | None = None, runs_root: Path | str = "runs") -> dict:
    """The history of one record (or of each record its natural key names).

    Returns ``{"entity", "query", "records": [{"id", "name", "runs": [...]}]}``; each run is
    ``{"run_id", "time", "dataset", "source", "version_id", "sha256", "sheet", "rows", "action",
    "changes": {column: {"old", "new"}}, "run_dir"}``, newest first. ``action`` is ``created``,
    ``updated``, or ``unchanged`` (the run read the record and left it as it was).
    """
    from .db.engine import connected, resolve_url

    spec, pii = find_spec(entity)
    with connected(resolve_url(db_url)) as conn:
        ids = _ids(conn, spec, ident)
        records = [_record(conn, spec, pii, record_id, name, Path(runs_root)) for record_id, name in ids]
    if not records:
        raise UsageError(f"OPS has no {spec.called} {ident!r}",
                         hint=f"give its OPS id or its {spec.key.columns[0] if spec.key.columns else 'id'}")
    return {"entity": spec.name, "query": ident, "records": records}


def _ids(conn, spec, ident: str) -> list[tuple[int, str | None]]:
    """(id, natural key) of each record ``ident`` names: its id, else its natural key."""
    from .db.entities import fold

    table = spec.table
    column = table.c[spec.key.columns[0]] if spec.key.columns else None
    wanted = []
    if ident.strip().isdigit():
        query = select(table.c.id, column if column is not None else table.c.id).where(table.c.id == int(ident))
        wanted = [(row[0], row[1] if column is not None else None) for row in conn.execute(query)]
    if not wanted and column is not None:
        key = fold(ident)
        # Compared in Python as the load compares keys (case and runs of spaces ignored).
        wanted = [(row[0], row[1]) for row in conn.execute(select(table.c.id, column).order_by(table.c.id))
                  if fold(row[1]) == key]
    return wanted


def _record(conn, spec, pii: set, record_id: int, name, runs_root: Path) -> dict:
    from .db.models import Lineage, PipelineRun, SourceFile

    lineage, run = Lineage.__table__, PipelineRun.__table__
    query = (select(run.c.id, run.c.dataset, run.c.source, run.c.file_sha256, run.c.finished_at,
                    run.c.transaction_id, lineage.c.sheet, lineage.c.rows)
             .join(run, run.c.id == lineage.c.run_id)
             .where(lineage.c.entity == spec.name, lineage.c.entity_id == record_id))
    found = conn.execute(query).all()
    ledger = SourceFile.__table__
    versions = {}
    if found:
        for row in conn.execute(select(ledger.c.run_id, ledger.c.location, ledger.c.version_id, ledger.c.etag)
                                .where(ledger.c.run_id.in_([r.id for r in found]))):
            versions[row.run_id] = row
    history = _versions(conn, spec, record_id)
    runs = []
    # Newest first by the recorded moment itself: two runs can finish within the same second.
    found.sort(key=lambda r: (_iso_precise(r.finished_at), r.id), reverse=True)
    for row in found:
        version = versions.get(row.id)
        action, changes = _changes(history, row.transaction_id, pii)
        run_dir = runs_root / row.id
        kept = (run_dir / "manifest.json").is_file()
        object_version = (version.version_id or version.etag) if version is not None else None
        if object_version is None and kept:
            # A run of one s3:// object (not the poller's) has its version in its manifest only.
            source = (read_json(run_dir / "manifest.json").get("source") or {})
            object_version = source.get("version_id") or source.get("etag")
        runs.append({
            "run_id": row.id,
            "time": _iso(row.finished_at),
            "dataset": row.dataset,
            "source": version.location if version is not None else row.source,
            "version_id": object_version,
            "sha256": row.file_sha256,
            "sheet": row.sheet,
            "rows": row.rows,
            "action": action,
            "changes": changes,
            "run_dir": str(run_dir) if kept else None,
        })
    return {"id": record_id, "name": name, "runs": runs}


def _iso(moment) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso_precise(moment) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _versions(conn, spec, record_id: int) -> dict[int, tuple[int, dict]]:
    """transaction id → (operation, the record's columns as of it), parent and subtype merged."""
    from .db.ops_models import version_table

    tables = [spec.table] + ([m.__table__ for m in spec.subtype.models.values()] if spec.subtype else [])
    merged: dict[int, tuple[int, dict]] = {}
    for table in tables:
        version = version_table(table)
        for row in conn.execute(select(version).where(version.c.id == record_id)).mappings():
            tx = row["transaction_id"]
            operation, values = merged.get(tx, (row["operation_type"], {}))
            if table is spec.table:
                operation = row["operation_type"]
            values.update({k: v for k, v in row.items() if k not in _NOT_CHANGES and k != "id"})
            merged[tx] = (operation, values)
    return merged


def _changes(history: dict, tx: int | None, pii: set) -> tuple[str, dict]:
    if tx is None or tx not in history:
        return "unchanged", {}
    operation, new = history[tx]
    earlier = [t for t in history if t < tx]
    old = history[max(earlier)][1] if earlier else {}
    changes = {}
    for column in sorted(set(new) | set(old)):
        before, after = old.get(column), new.get(column)
        if _plain(before) == _plain(after):
            continue
        if column in pii:
            before, after = (None if v is None else mask_value(v) for v in (before, after))
        changes[column] = {"old": _plain(before), "new": _plain(after)}
    return ACTIONS.get(operation, "updated"), changes


def _plain(value):
    """A stored value as JSON shows it: money as text with its places, dates ISO, enums by name."""
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01"))) if value.as_tuple().exponent <= -2 else str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "name") and not isinstance(value, (str, int)):
        return value.name
    return value


def render_trace(data: dict) -> str:
    """The trace for a terminal: one block per run, changes as ``column: old → new``."""
    lines = []
    for record in data["records"]:
        title = f"{data['entity']} {record['id']}" + (f" ({record['name']})" if record["name"] not in (None, "") and
                                                     str(record["name"]) != str(record["id"]) else "")
        count = len(record["runs"])
        lines.append(f"{title}: {count} run{'s' if count != 1 else ''}")
        if not record["runs"]:
            lines.append("  no run of ops-pipeline loaded it")
        for run in record["runs"]:
            source = run["source"] + (f" (version {run['version_id']})" if run["version_id"] else "")
            lines.append(f"  {run['time']}  {run['action']}  run {run['run_id']}")
            lines.append(f"    source: {source}")
            lines.append(f"    sha256: {run['sha256']}")
            where = f"{run['sheet']}, " if run["sheet"] else ""
            lines.append(f"    from: {where}rows {run['rows']}")
            for column, change in run["changes"].items():
                lines.append(f"    {column}: {_shown(change['old'])} → {_shown(change['new'])}")
            lines.append(f"    run directory: {run['run_dir'] or '(gone)'}")
    return "\n".join(lines)


def _shown(value) -> str:
    return "(none)" if value is None or value == "" else str(value)
