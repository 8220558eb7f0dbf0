"""The ledger of source files: which object versions were processed, with what outcome.

One row (:class:`~ops_pipeline.db.models.SourceFile`) per object *version*: its ``location``
(``s3://bucket/key``) and ``version_key`` (the store's version id, else the ETag). The content is
identified by ``sha256`` wherever it was uploaded. The poller writes the row as ``processing``
before it fetches, and updates it when the run ends, so a killed poller leaves evidence behind
and a restarted one knows what to retry.

Outcomes and what the next poll does with the same object version:

==============  ====================================================================  ============
outcome         meaning                                                               next poll
==============  ====================================================================  ============
``succeeded``   loaded (possibly with accepted rejects)                               skipped
``invalid``     the data failed validation: the same bytes would fail again           skipped
``duplicate``   the same content (sha256) was already loaded; ``run_id`` is the run   skipped
                that loaded it
``refused``     over the size limit, refused before download                          skipped while
                                                                                      still over the
                                                                                      limit
``crashed``     ops-pipeline itself failed on this file (a bug): the same bytes       skipped
                would crash it again, and a retry each pass would notify each pass
``failed``      the run could not complete (storage or database unreachable...)       retried
``interrupted`` the poller was stopped (SIGTERM, Ctrl-C) between stages               retried
``processing``  left behind by a poller that was killed                               retried
==============  ====================================================================  ============

A new upload is a new version (a new version id, or a new ETag in an unversioned bucket), so it
is processed even when an earlier version of the key was invalid. Its content is checked after
download: content that was already *loaded* (by the poller or by a manual ``ops-pipeline run``,
per ``ops_pipeline_run``) is recorded as ``duplicate`` and not loaded again, whatever its name.
Content that was only ever invalid is validated again when someone uploads it again.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from .db.engine import check_schema, connection_error, make_engine, resolve_url
from .db.models import PipelineRun, SourceFile

PROCESSING = "processing"
SUCCEEDED = "succeeded"
INVALID = "invalid"
DUPLICATE = "duplicate"
REFUSED = "refused"
FAILED = "failed"
CRASHED = "crashed"
INTERRUPTED = "interrupted"

#: Outcomes after which the same object version is never processed again.
FINAL = (SUCCEEDED, INVALID, DUPLICATE, CRASHED)
#: Outcomes that the next poll retries.
RETRIED = (FAILED, INTERRUPTED, PROCESSING)
OUTCOMES = (PROCESSING, SUCCEEDED, INVALID, DUPLICATE, REFUSED, FAILED, CRASHED, INTERRUPTED)

_VERSION_KEY_MAX = 200


def version_key(version_id: str | None, etag: str | None, sha256: str | None = None) -> str:
    """What tells two versions of one location apart: the version id, else the ETag, else sha256."""
    key = version_id or (f"etag:{etag}" if etag else None) or (f"sha256:{sha256}" if sha256 else None)
    if not key:
        raise ValueError("an object version needs a version id, an ETag or a sha256")
    if len(key) > _VERSION_KEY_MAX:
        key = "sha256-of:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


@dataclass(frozen=True)
class Entry:
    """One ledger row, as read."""

    id: int
    location: str
    version_key: str
    version_id: str | None
    etag: str | None
    size: int | None
    sha256: str | None
    run_id: str | None
    outcome: str
    first_seen_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class Decision:
    """Whether to process an object version now, and why (for the operator's log)."""

    process: bool
    reason: str
    entry: Entry | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _entry(row) -> Entry:
    return Entry(**{name: getattr(row, name) for name in Entry.__dataclass_fields__})


_COLUMNS = [getattr(SourceFile, name) for name in Entry.__dataclass_fields__]


class Ledger:
    """The ledger in one database. Every method is one short transaction of its own, so the
    ledger never holds a lock while a stage (or the load's own transaction) runs."""

    def __init__(self, db_url: str | None = None):
        self.url = resolve_url(db_url)
        self.engine = make_engine(self.url)
        try:
            with self.engine.connect() as conn:
                check_schema(conn)
        except (DBAPIError, SQLAlchemyError) as exc:
            self.engine.dispose()
            raise connection_error(exc, self.url) from None
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------
    def _read(self, statement) -> list:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(statement))
        except (DBAPIError, SQLAlchemyError) as exc:
            raise connection_error(exc, self.url) from None

    def get(self, location: str, key: str) -> Entry | None:
        rows = self._read(select(*_COLUMNS).where(SourceFile.location == location,
                                                  SourceFile.version_key == key))
        return _entry(rows[0]) if rows else None

    def entries(self, location_prefix: str = "") -> list[Entry]:
        """Every row whose location starts with ``location_prefix``, oldest first."""
        statement = select(*_COLUMNS).order_by(SourceFile.id)
        if location_prefix:
            statement = statement.where(SourceFile.location.startswith(location_prefix, autoescape=True))
        return [_entry(row) for row in self._read(statement)]

    def of_run(self, run_id: str) -> Entry | None:
        """The row of the object version that run ``run_id`` processes (see :meth:`fetched`)."""
        rows = self._read(select(*_COLUMNS).where(SourceFile.run_id == run_id).order_by(SourceFile.id.desc()).limit(1))
        return _entry(rows[0]) if rows else None

    def decide(self, location: str, key: str, *, size: int | None, max_bytes: int) -> Decision:
        """Whether this object version should be processed now (see the module's table)."""
        entry = self.get(location, key)
        if entry is None:
            return Decision(True, "new", None)
        if entry.outcome in FINAL:
            return Decision(False, f"already {entry.outcome}" + (f" (run {entry.run_id})" if entry.run_id else ""),
                            entry)
        if entry.outcome == REFUSED:
            if size is not None and size > max_bytes:
                return Decision(False, "refused: still over the size limit", entry)
            return Decision(True, "refused before, now within the size limit", entry)
        return Decision(True, f"retrying after {entry.outcome}", entry)

    def loaded_content(self, sha256: str) -> str | None:
        """The id of a run that already loaded this content (per the ledger or the run records)."""
        rows = self._read(select(SourceFile.run_id).where(SourceFile.sha256 == sha256,
                                                          SourceFile.outcome == SUCCEEDED,
                                                          SourceFile.run_id.is_not(None))
                          .order_by(SourceFile.id).limit(1))
        if rows:
            return rows[0].run_id
        rows = self._read(select(PipelineRun.id).where(PipelineRun.file_sha256 == sha256,
                                                       PipelineRun.status == "loaded")
                          .order_by(PipelineRun.finished_at).limit(1))
        return rows[0].id if rows else None

    # -- writing ------------------------------------------------------------------------------
    def claim(self, location: str, key: str, *, version_id: str | None, etag: str | None,
              size: int | None, seen: Entry | None) -> Entry | None:
        """Mark the version ``processing`` before its run starts.

        ``seen`` is the row :meth:`decide` read (None for a new version). The write only
        succeeds if nobody changed the row since (another poller claiming the same version):
        then it returns the claimed row, else None.
        """
        now = _now()
        values = {"version_id": version_id, "etag": etag, "size": size, "outcome": PROCESSING,
                  "finished_at": None}
        try:
            with self.engine.begin() as conn:
                if seen is None:
                    conn.execute(SourceFile.__table__.insert().values(
                        location=location, version_key=key, first_seen_at=now, **values))
                else:
                    same = [SourceFile.id == seen.id, SourceFile.outcome == seen.outcome]
                    same.append(SourceFile.run_id.is_(None) if seen.run_id is None
                                else SourceFile.run_id == seen.run_id)
                    result = conn.execute(SourceFile.__table__.update().where(and_(*same)).values(**values))
                    if result.rowcount != 1:
                        return None
        except IntegrityError:  # another poller inserted the same version first
            return None
        except (DBAPIError, SQLAlchemyError) as exc:
            raise connection_error(exc, self.url) from None
        return self.get(location, key)

    def _update(self, entry: Entry, **values) -> Entry:
        try:
            with self.engine.begin() as conn:
                conn.execute(SourceFile.__table__.update().where(SourceFile.id == entry.id).values(**values))
        except (DBAPIError, SQLAlchemyError) as exc:
            raise connection_error(exc, self.url) from None
        return self.get(entry.location, entry.version_key)

    def fetched(self, entry: Entry, *, run_id: str, sha256: str | None, size: int | None,
                etag: str | None = None, version_id: str | None = None) -> Entry:
        """Record the run that holds the fetched copy, and the content's sha256."""
        values = {"run_id": run_id, "sha256": sha256, "size": size}
        if etag:
            values["etag"] = etag
        if version_id:
            values["version_id"] = version_id
        return self._update(entry, **values)

    def finish(self, entry: Entry, outcome: str, *, run_id: str | None = None) -> Entry:
        """Record how the run ended (``run_id`` replaces the recorded one when given)."""
        if outcome not in OUTCOMES or outcome == PROCESSING:
            raise ValueError(f"not a final ledger outcome: {outcome!r}")
        values = {"outcome": outcome, "finished_at": _now()}
        if run_id is not None:
            values["run_id"] = run_id
        return self._update(entry, **values)

    def unfinished(self, location_prefix: str = "") -> list[Entry]:
        """Rows still ``processing``: after a clean stop there are none."""
        return [e for e in self.entries(location_prefix) if e.outcome == PROCESSING]
