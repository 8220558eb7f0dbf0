"""load: write the run's entities to the database in one transaction, with the run record."""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import time

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..db.engine import ENV_URL, check_schema, connection_error, describe, make_engine, resolve_url
from ..db.opscheck import check_ops_schema
from ..db.load import LoadContext, Loader, acquire_load_lock, concurrent_message, prepare_connection
from ..db.models import Lineage, PipelineRun
from ..errors import ConcurrentLoad, DataInvalid, PipelineError
from ..rundir import RunDir, read_json, utcnow, write_json
from . import exclusive, layout_of, recorded
from ..findings import ERROR, Finding
from ..rundir import write_jsonl
from .transform import entity_file

RESULT = "result.json"
FINDINGS = "findings.jsonl"
#: A dry run's counts: what a load would do, kept apart from the real load's record.
PLAN = "plan.json"


@exclusive("load", records=lambda kwargs: not kwargs.get("dry_run"))
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
    info = run.require("load", "transform")
    url = resolve_url(db_url)
    database = describe(url)
    with recorded(run, "load") if not dry_run else _planning(run):
        run.log_event("load", "connecting", database={k: database.get(k) for k in ("dialect", "host", "database")})
        tdir = run.path / "transform"
        order = read_json(tdir / "summary.json")["entity_order"]
        files = {kind: tdir / entity_file(kind) for kind in order}
        staged = hashlib.sha256("".join(o["sha256"] for o in info["outputs"]).encode()).hexdigest()
        started = time.perf_counter()
        started_at = dt.datetime.now(dt.timezone.utc)
        engine = make_engine(url)
        try:
            context, relo = _load(engine, run, files, staged, started_at, dry_run, lock_wait, url, accept_rejects)
        finally:
            engine.dispose()
        counts = context.counts
        findings: list[Finding] = context.findings
        seconds = round(time.perf_counter() - started, 3)
        result = {
            "database": {k: database.get(k) for k in ("dialect", "host", "port", "database")},
            "dry_run": dry_run,
            "seconds": seconds,
            "entities": counts,
            "reloaded": relo,
            "history": context.history,
            "findings": _by_code(findings),
            "not_loaded": context.not_loaded,
            "questions": context.questions,
            "unresolved": context.unresolved,
        }
        inputs = [{"path": o["path"], "sha256": o["sha256"]} for o in info["outputs"]]
        if dry_run:
            # The plan keeps the findings by code; the file of findings is the real load's.
            write_json(run.stage_dir("load") / PLAN, {**result, "planned_at": utcnow(), "inputs": inputs})
            run.log_event("load", "dry-run", counts=counts, seconds=seconds)
            return result
        out = run.stage_dir("load")
        with write_jsonl(out / FINDINGS) as writer:
            writer.write_all(f.as_dict() for f in findings)
        write_json(out / RESULT, result)
        run.succeed(
            "load",
            inputs=inputs,
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


def _load(engine, run, files, staged, started_at, dry_run, lock_wait, url, accept_rejects=False):
    try:
        with engine.connect() as conn:
            prepare_connection(conn, lock_wait)
            transaction = conn.begin()
            try:
                check_schema(conn)
                if conn.dialect.name == "postgresql":  # OPS's tables are OPS's: check, never create
                    check_ops_schema(conn)
                acquire_load_lock(conn, lock_wait)
                previous = conn.execute(
                    select(PipelineRun.staged_sha256).where(PipelineRun.id == run.run_id)
                ).first()
                reloaded = previous is not None
                same = previous is not None and previous.staged_sha256 == staged
                if reloaded and not same:
                    conn.execute(delete(Lineage).where(Lineage.run_id == run.run_id))
                record = {
                    "id": run.run_id,
                    "dataset": run.dataset,
                    "source": str(run.manifest["source"].get("uri") or run.manifest["source"].get("name", ""))[:1000],
                    "file_sha256": run.manifest["source"].get("sha256", ""),
                    "staged_sha256": staged,
                    "status": "loaded",
                    "counts": {},
                    "started_at": started_at,
                    "finished_at": started_at,
                }
                # The run record goes in first (lineage refers to it) and is completed last, in the
                # same transaction as the data: there is no "loaded" record without the data.
                if previous is None:
                    conn.execute(PipelineRun.__table__.insert().values(**record))
                columns = _columns(run)
                context = LoadContext(run_id=run.run_id, file_sha256=record["file_sha256"], write_lineage=not same,
                                      columns=columns)
                counts = Loader(conn, context, layout_of(run)).load(files)
                refused = [f for f in context.findings if f.severity == ERROR]
                if refused and not accept_rejects:
                    first = refused[0]
                    where = f"{first.cell}: " if first.cell else ""
                    raise DataInvalid(
                        f"OPS cannot take {len(refused)} record{'s' if len(refused) != 1 else ''} as "
                        f"{'they are' if len(refused) != 1 else 'it is'}; nothing was loaded. {where}{first.message}",
                        stage="load", run_id=run.run_id,
                        hint=f"fix the file, or load the rest with: ops-pipeline load {run.path} --accept-rejects")
                conn.execute(
                    PipelineRun.__table__.update().where(PipelineRun.id == run.run_id).values(
                        counts=counts, staged_sha256=staged, status="loaded",
                        finished_at=dt.datetime.now(dt.timezone.utc),
                        # A load that changed nothing keeps the transaction of the one that did.
                        **({"transaction_id": context.transaction_id} if context.transaction_id else {}),
                    )
                )
                if dry_run:
                    transaction.rollback()
                else:
                    transaction.commit()
            except BaseException:
                _abandon(conn, transaction)
                raise
        return context, reloaded
    except PipelineError as error:
        if isinstance(error, ConcurrentLoad):
            error.hint = error.hint or f"ops-pipeline load {run.path}"
        raise
    except Exception as exc:
        # COPY runs on the driver's own cursor, so driver errors arrive unwrapped as well.
        if not isinstance(exc, (DBAPIError, SQLAlchemyError, engine.dialect.dbapi.Error)):
            raise
        if _lock_not_available(exc):
            raise ConcurrentLoad(concurrent_message(lock_wait), hint=f"ops-pipeline load {run.path}") from None
        error = connection_error(exc, url)
        error.hint = f"nothing was written; check the database and --db / {ENV_URL}, then rerun: ops-pipeline load {run.path}"
        raise error from None


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
