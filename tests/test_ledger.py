"""The ledger of source files: what is processed, skipped and retried (ops_pipeline.ledger)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select

from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.models import PipelineRun, SourceFile
from ops_pipeline.errors import SchemaMissing, UsageError
from ops_pipeline.ledger import (DUPLICATE, FAILED, INTERRUPTED, INVALID, PROCESSING, REFUSED, SUCCEEDED, Ledger,
                                 version_key)

LOC = "s3://budget-uploads/incoming/fy25.xlsx"
SHA = "a" * 64


def test_version_key_prefers_version_id_then_etag_then_sha256():
    assert version_key("3HL4kqtJlcpXroDTDmJ", "abc") == "3HL4kqtJlcpXroDTDmJ"
    assert version_key(None, "9b2cf535f27731c974343645a3985328") == "etag:9b2cf535f27731c974343645a3985328"
    assert version_key(None, None, SHA) == f"sha256:{SHA}"
    long = version_key("v" * 500, None)
    assert long.startswith("sha256-of:") and len(long) <= 200
    with pytest.raises(ValueError):
        version_key(None, "")


def _claim_new(ledger: Ledger, location=LOC, key="etag:e1", size=100, max_bytes=1000):
    decision = ledger.decide(location, key, size=size, max_bytes=max_bytes)
    assert decision.process and decision.reason == "new" and decision.entry is None
    entry = ledger.claim(location, key, version_id=None, etag=key[5:], size=size, seen=None)
    assert entry is not None and entry.outcome == PROCESSING and entry.finished_at is None
    return entry


def test_a_version_is_processed_once(db_url):
    with Ledger(db_url) as ledger:
        entry = _claim_new(ledger)
        entry = ledger.fetched(entry, run_id="20260101T000000Z-aaaaaa", sha256=SHA, size=100, etag="e1")
        done = ledger.finish(entry, SUCCEEDED)
        assert (done.outcome, done.run_id, done.sha256, done.size, done.etag) == (
            SUCCEEDED, "20260101T000000Z-aaaaaa", SHA, 100, "e1")
        assert done.finished_at is not None
        again = ledger.decide(LOC, "etag:e1", size=100, max_bytes=1000)
        assert not again.process and again.reason == "already succeeded (run 20260101T000000Z-aaaaaa)"
        # a new upload of the key (new ETag) is another version: processed anew
        assert ledger.decide(LOC, "etag:e2", size=100, max_bytes=1000).process
        assert ledger.loaded_content(SHA) == "20260101T000000Z-aaaaaa"
        assert [e.outcome for e in ledger.entries("s3://budget-uploads/")] == [SUCCEEDED]
        assert ledger.entries("s3://other-bucket/") == []


@pytest.mark.parametrize("outcome, process, reason", [
    (SUCCEEDED, False, "already succeeded"),
    (INVALID, False, "already invalid"),
    (DUPLICATE, False, "already duplicate"),
    (FAILED, True, "retrying after failed"),
    (INTERRUPTED, True, "retrying after interrupted"),
])
def test_what_the_next_poll_does_after_each_outcome(sqlite_url, outcome, process, reason):
    with Ledger(sqlite_url) as ledger:
        ledger.finish(_claim_new(ledger), outcome)
        decision = ledger.decide(LOC, "etag:e1", size=100, max_bytes=1000)
        assert (decision.process, decision.reason) == (process, reason)


def test_a_leftover_processing_row_is_retried_and_reclaimed_once(sqlite_url):
    with Ledger(sqlite_url) as ledger:
        _claim_new(ledger)  # a poller killed here leaves "processing"
        decision = ledger.decide(LOC, "etag:e1", size=100, max_bytes=1000)
        assert decision.process and decision.reason == "retrying after processing"
        first = ledger.claim(LOC, "etag:e1", version_id=None, etag="e1", size=100, seen=decision.entry)
        assert first is not None and first.id == decision.entry.id
        ledger.fetched(first, run_id="20260101T000000Z-bbbbbb", sha256=SHA, size=100)
        # a second poller that read the same row before the claim loses the race
        assert ledger.claim(LOC, "etag:e1", version_id=None, etag="e1", size=100, seen=decision.entry) is None
        # and so does one inserting the same version anew
        assert ledger.claim(LOC, "etag:e1", version_id=None, etag="e1", size=100, seen=None) is None
        assert len(ledger.entries()) == 1


def test_refused_is_retried_only_within_the_limit(sqlite_url):
    with Ledger(sqlite_url) as ledger:
        ledger.finish(_claim_new(ledger, size=5000, max_bytes=10_000), REFUSED)
        still = ledger.decide(LOC, "etag:e1", size=5000, max_bytes=1000)
        assert (still.process, still.reason) == (False, "refused: still over the size limit")
        raised = ledger.decide(LOC, "etag:e1", size=5000, max_bytes=5000)
        assert (raised.process, raised.reason) == (True, "refused before, now within the size limit")


def test_loaded_content_counts_loads_not_invalid_runs(sqlite_url):
    with Ledger(sqlite_url) as ledger:
        entry = ledger.fetched(_claim_new(ledger), run_id="r-invalid", sha256=SHA, size=100)
        ledger.finish(entry, INVALID)
        assert ledger.loaded_content(SHA) is None  # re-uploading invalid content validates it again
        # a manual `ops-pipeline run` that loaded the same bytes counts
        now = dt.datetime.now(dt.timezone.utc)
        engine = make_engine(sqlite_url)
        with engine.begin() as conn:
            conn.execute(insert(PipelineRun).values(
                id="20260102T000000Z-cccccc", dataset="budget-workbook", source="fy25.xlsx", file_sha256=SHA,
                staged_sha256="b" * 64, status="loaded", counts={}, started_at=now, finished_at=now))
        engine.dispose()
        assert ledger.loaded_content(SHA) == "20260102T000000Z-cccccc"
        assert ledger.loaded_content("c" * 64) is None


def test_finish_needs_a_final_outcome(sqlite_url):
    with Ledger(sqlite_url) as ledger:
        entry = _claim_new(ledger)
        for bad in (PROCESSING, "done"):
            with pytest.raises(ValueError):
                ledger.finish(entry, bad)


def test_rows_are_in_the_source_file_table(sqlite_url):
    with Ledger(sqlite_url) as ledger:
        entry = _claim_new(ledger)
        ledger.finish(ledger.fetched(entry, run_id="r1", sha256=SHA, size=100), SUCCEEDED)
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        row = conn.execute(select(SourceFile)).one()
    engine.dispose()
    assert (row.location, row.version_key, row.etag, row.sha256, row.run_id, row.outcome) == (
        LOC, "etag:e1", "e1", SHA, "r1", SUCCEEDED)


def test_a_database_without_schema_is_refused_with_the_fix(tmp_path):
    with pytest.raises(SchemaMissing) as caught:
        Ledger(f"sqlite:///{tmp_path / 'empty.db'}")
    assert caught.value.one_line() == ("the database has no ops-pipeline schema "
                                       "(hint: create it with: ops-pipeline db init --db URL)")


def test_no_database_given_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("OPS_PIPELINE_DB_URL", raising=False)
    monkeypatch.delenv("VCAP_SERVICES", raising=False)
    with pytest.raises(UsageError):
        Ledger(None)
