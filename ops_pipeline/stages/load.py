"""load: write a run's entities to the database in one transaction, with the run record.

:func:`load` loads one run; :func:`load_runs` loads several in one transaction (``migrate``: a MAPS
export set lands whole or not at all); :func:`load_into` is the work of one run on a connection
whose transaction the caller holds.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..db.engine import ENV_URL, check_schema, connection_error, describe, make_engine, resolve_url
from ..db.opscheck import check_ops_schema
from ..db.load import LoadContext, Loader, acquire_load_lock, concurrent_message, prepare_connection
from ..db.models import Lineage, PipelineRun
from ..errors import ConcurrentLoad, DataInvalid, PipelineError
from ..rundir import RunDir, read_json, utcnow, write_json
from . import holding, layout_of, recorded
from ..findings import ERROR, Finding
from ..rundir import write_jsonl
from .transform import entity_file

RESULT = "result.json"
FINDINGS = "findings.jsonl"
#: every finding of a load that refused (it wrote nothing), to fix the file from
REFUSED = "refused.jsonl"
#: A dry run's counts: what a load would do, kept apart from the real load's record.
PLAN = "plan.json"


def load(run: RunDir, *, db_url: str | None = None, dry_run: bool = False, lock_wait: float = 300.0,
         accept_rejects: bool = False) -> dict:
    """Load the transformed entities: all or nothing, idempotent by natural key.

    A record OPS cannot take as it is (an error finding of the load, such as a budget line that
    would change its kind) makes the load refuse, nothing written, unless ``accept_rejects``: then
    the rest loads and the findings say what was left out. Warnings (a CAN OPS lacks and cannot
    create) never stop a load.

    Returns the result (also written to load/result.json). With ``dry_run`` the same work is done
    and rolled back, so the counts are those a real load would give: a plan, not a load. Its
    counts go to load/plan.json and the event log; the load stage's status and result.json stay
    as they were (after a real load the run still reports that load; before one, nothing was
    loaded), and a failed dry run is recorded in the event log only.
    """
    return load_runs([run], db_url=db_url, dry_run=dry_run, lock_wait=lock_wait, accept_rejects=accept_rejects)[0]


@dataclass
class Staged:
    """One run made ready to load: its entity files in the dataset's order and their checksum."""

    run: RunDir
    files: dict[str, Path]
    staged_sha256: str
    inputs: list[dict]

    @classmethod
    def of(cls, run: RunDir) -> "Staged":
        info = run.require("load", "transform")
        tdir = run.path / "transform"
        order = read_json(tdir / "summary.json")["entity_order"]
        return cls(run=run, files={kind: tdir / entity_file(kind) for kind in order},
                   staged_sha256=hashlib.sha256("".join(o["sha256"] for o in info["outputs"]).encode()).hexdigest(),
                   inputs=[{"path": o["path"], "sha256": o["sha256"]} for o in info["outputs"]])

    @property
    def name(self) -> str:
        """The source file's name, as messages about the run name it."""
        source = self.run.manifest.get("source") or {}
        return str(source.get("name") or source.get("uri") or self.run.run_id)


def load_runs(runs: Sequence[RunDir], *, db_url: str | None = None, dry_run: bool = False,
              lock_wait: float = 300.0, accept_rejects: bool = False, rerun: str | None = None) -> list[dict]:
    """Load several runs one after another in ONE transaction, in the order given: a later run's
    links resolve against an earlier run's rows, and the whole set lands or nothing does.

    Each run keeps what :func:`load` gives it (its ``pipeline_run`` record, lineage, counts,
    findings, history transaction, ``load/result.json`` or, with ``dry_run``, ``load/plan.json``);
    the results are returned in the order of ``runs``. A refusal in any run (see :func:`load`)
    rolls the whole set back; its error names that run's file (``file``, ``run_id``), and every
    run's load stage is recorded as failed with it. ``rerun`` is the command an operator reruns
    (in hints); by default ``ops-pipeline load RUN``.
    """
    runs = list(runs)
    with contextlib.ExitStack() as stack:
        for run in runs:
            stack.enter_context(holding(run, "load", records=not dry_run))
        staged = [Staged.of(run) for run in runs]
        url = resolve_url(db_url)
        database = describe(url)
        for item in staged:
            stack.enter_context(recorded(item.run, "load") if not dry_run else _planning(item.run))
        for item in staged:
            item.run.log_event("load", "connecting",
                               database={k: database.get(k) for k in ("dialect", "host", "database")})
        started = time.perf_counter()
        engine = make_engine(url)
        try:
            loaded = _load_all(engine, staged, dry_run=dry_run, lock_wait=lock_wait, url=url,
                               accept_rejects=accept_rejects, rerun=rerun)
        finally:
            engine.dispose()
        if len(loaded) == 1:  # one run: its load's time is the whole command's, connecting included
            loaded = [(loaded[0][0], loaded[0][1], round(time.perf_counter() - started, 3))]
        return [_record(item, context, reloaded, seconds, database, dry_run)
                for item, (context, reloaded, seconds) in zip(staged, loaded)]


def _record(item: Staged, context: LoadContext, reloaded: bool, seconds: float, database: dict,
            dry_run: bool) -> dict:
    """Write one run's result (or plan) after the transaction ended; return it."""
    run = item.run
    counts = context.counts
    findings: list[Finding] = context.findings
    result = {
        "database": {k: database.get(k) for k in ("dialect", "host", "port", "database")},
        "dry_run": dry_run,
        "seconds": seconds,
        "entities": counts,
        "reloaded": reloaded,
        "history": context.history,
        "findings": _by_code(findings),
        "not_loaded": context.not_loaded,
        "questions": context.questions,
        "unresolved": context.unresolved,
    }
    if dry_run:
        # The plan keeps the findings by code; the file of findings is the real load's.
        write_json(run.stage_dir("load") / PLAN, {**result, "planned_at": utcnow(), "inputs": item.inputs})
        run.log_event("load", "dry-run", counts=counts, seconds=seconds)
        return result
    out = run.stage_dir("load")
    with write_jsonl(out / FINDINGS) as writer:
        writer.write_all(f.as_dict() for f in findings)
    write_json(out / RESULT, result)
    run.succeed(
        "load",
        inputs=item.inputs,
        outputs=[run.output_record(out / RESULT),
                 run.output_record(out / FINDINGS, rows=writer.count, sha256=writer.sha256)],
        counts={k: v for k, v in counts.items()},
    )
    return result


@contextlib.contextmanager
def _planning(run: RunDir):
    """A dry run's failure goes to the event log, never to the load stage's status."""
    try:
        yield
    except PipelineError as error:
        error.stage = error.stage or "load"
        error.run_id = error.run_id or run.run_id
        run.log_event("load", "dry-run-failed", level="error", error={"code": error.code})
        raise


def _load_all(engine, staged: list[Staged], *, dry_run: bool, lock_wait: float, url, accept_rejects: bool,
              rerun: str | None) -> list[tuple[LoadContext, bool, float]]:
    """One connection, one transaction: every run in order, then commit (or roll back)."""
    several = len(staged) > 1
    current: Staged | None = None

    def again() -> str:
        return rerun or f"ops-pipeline load {(current or staged[0]).run.path}"

    try:
        with engine.connect() as conn:
            prepare_connection(conn, lock_wait)
            transaction = conn.begin()
            try:
                check_schema(conn)
                if conn.dialect.name == "postgresql":  # OPS's tables are OPS's: check, never create
                    check_ops_schema(conn)
                acquire_load_lock(conn, lock_wait)
                loaded = []
                for current in staged:
                    started = time.perf_counter()
                    context, reloaded = load_into(conn, current.run, current.files, current.staged_sha256,
                                                  accept_rejects=accept_rejects, rerun=again(),
                                                  file=current.name if several else None)
                    loaded.append((context, reloaded, round(time.perf_counter() - started, 3)))
                current = None
                if dry_run:
                    transaction.rollback()
                else:
                    transaction.commit()
            except BaseException:
                _abandon(conn, transaction)
                raise
        return loaded
    except PipelineError as error:
        if current is not None:
            error.run_id = error.run_id or current.run.run_id
            if several:
                error.file = error.file or current.name
        if isinstance(error, ConcurrentLoad):
            error.hint = error.hint or again()
        raise
    except Exception as exc:
        # COPY runs on the driver's own cursor, so driver errors arrive unwrapped as well.
        if not isinstance(exc, (DBAPIError, SQLAlchemyError, engine.dialect.dbapi.Error)):
            raise
        if _lock_not_available(exc):
            raise ConcurrentLoad(concurrent_message(lock_wait), hint=again()) from None
        error = connection_error(exc, url)
        error.hint = f"nothing was written; check the database and --db / {ENV_URL}, then rerun: {again()}"
        if current is not None:
            error.run_id = current.run.run_id
            if several:
                error.file = current.name
        raise error from None


def load_into(conn, run: RunDir, files: dict[str, Path], staged_sha256: str, *, accept_rejects: bool = False,
              rerun: str | None = None, file: str | None = None) -> tuple[LoadContext, bool]:
    """Load one run's entity files on ``conn`` inside the caller's transaction (which has checked
    the schema and holds the load lock), with its ``pipeline_run`` record and lineage; neither
    commits nor rolls back. Returns the load's context (counts, findings, history...) and whether
    the run had been loaded before. Refuses (:class:`DataInvalid`, naming ``file`` when given)
    when OPS cannot take some records and not ``accept_rejects``: the caller must roll back."""
    started_at = dt.datetime.now(dt.timezone.utc)
    previous = conn.execute(
        select(PipelineRun.staged_sha256).where(PipelineRun.id == run.run_id)
    ).first()
    reloaded = previous is not None
    same = previous is not None and previous.staged_sha256 == staged_sha256
    if reloaded and not same:
        conn.execute(delete(Lineage).where(Lineage.run_id == run.run_id))
    record = {
        "id": run.run_id,
        "dataset": run.dataset,
        "source": str(run.manifest["source"].get("uri") or run.manifest["source"].get("name", ""))[:1000],
        "file_sha256": run.manifest["source"].get("sha256", ""),
        "staged_sha256": staged_sha256,
        "status": "loaded",
        "counts": {},
        "started_at": started_at,
        "finished_at": started_at,
    }
    # The run record goes in first (lineage refers to it) and is completed last, in the
    # same transaction as the data: there is no "loaded" record without the data.
    if previous is None:
        conn.execute(PipelineRun.__table__.insert().values(**record))
    context = LoadContext(run_id=run.run_id, file_sha256=record["file_sha256"], write_lineage=not same,
                          columns=_columns(run))
    counts = Loader(conn, context, layout_of(run)).load(files)
    refused = [f for f in context.findings if f.severity == ERROR]
    if refused and not accept_rejects:
        first = refused[0]
        where = f"{first.cell}: " if first.cell else ""
        # Every finding of the refused load, not only the first the message quotes: the file to
        # fix them all from (the load's findings.jsonl is a completed load's).
        listed = run.stage_dir("load") / REFUSED
        with write_jsonl(listed) as writer:
            writer.write_all(f.as_dict() for f in context.findings)
        raise DataInvalid(
            f"OPS cannot take {len(refused)} record{'s' if len(refused) != 1 else ''} as "
            f"{'they are' if len(refused) != 1 else 'it is'}; nothing was loaded. {where}{first.message}",
            stage="load", run_id=run.run_id, file=file,
            hint=f"every finding is in {listed}; fix the file, or load the rest with: "
                 f"{rerun or f'ops-pipeline load {run.path}'} --accept-rejects")
    conn.execute(
        PipelineRun.__table__.update().where(PipelineRun.id == run.run_id).values(
            counts=counts, staged_sha256=staged_sha256, status="loaded",
            finished_at=dt.datetime.now(dt.timezone.utc),
            # A load that changed nothing keeps the transaction of the one that did.
            **({"transaction_id": context.transaction_id} if context.transaction_id else {}),
        )
    )
    return context, reloaded


def _columns(run) -> dict:
    """The dataset's field -> column letter as validate found them (for the cells of findings)."""
    try:
        return read_json(run.path / "validate" / "summary.json").get("columns") or {}
    except (OSError, ValueError):
        return {}


def _by_code(findings: list[Finding]) -> dict:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.code] = counts.get(finding.code, 0) + 1
    return dict(sorted(counts.items()))


def _abandon(conn, transaction) -> None:
    """Roll back after a failure. When the connection is gone the rollback fails too (the server
    has rolled back on its own): then drop the connection rather than hand it back to the pool,
    whose own clean-up would print a second error."""
    try:
        if transaction.is_active:
            transaction.rollback()
    except Exception:
        with contextlib.suppress(Exception):
            conn.invalidate()


# PostgreSQL: lock_not_available (lock_timeout), deadlock_detected, serialization_failure.
_CONCURRENCY_SQLSTATES = {"55P03", "40P01", "40001"}


def _lock_not_available(exc: BaseException) -> bool:
    original = getattr(exc, "orig", None) or exc
    if getattr(original, "sqlstate", None) in _CONCURRENCY_SQLSTATES:
        return True
    return "database is locked" in str(original).lower()  # SQLite's busy timeout ran out
