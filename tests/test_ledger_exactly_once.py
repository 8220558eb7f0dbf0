"""The ledger's exactly-once logic, pinned where mutation testing found it unpinned: the version
key's length limit, the size limit's boundary, the optimistic claim, what each write keeps, and
prefixes that hold LIKE wildcards."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import insert

from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.models import PipelineRun
from ops_pipeline.ledger import FAILED, INVALID, PROCESSING, REFUSED, SUCCEEDED, Ledger, version_key

LOC = "s3://budget-uploads/incoming/fy25.xlsx"


@pytest.fixture
def ledger(sqlite_url):
    with Ledger(sqlite_url) as ledger:
        yield ledger


def _claimed(ledger, location=LOC, key="etag:e1", size=100):
    return ledger.claim(location, key, version_id=None, etag=key[5:], size=size, seen=None)


def test_a_version_key_of_200_characters_is_kept_and_a_longer_one_is_hashed():
    assert version_key("v" * 200, None) == "v" * 200
    assert version_key("v" * 201, None) == "sha256-of:" + hashlib.sha256(b"v" * 201).hexdigest()
    # an ETag that cannot be encoded (a lone surrogate) is still hashed, not a crash
    assert version_key(None, "\udcff" * 200).startswith("sha256-of:")


@pytest.mark.parametrize("size, process", [(999, True), (1000, True), (1001, False), (None, True)])
def test_a_refused_version_is_retried_once_it_is_within_the_limit_or_its_size_is_unknown(ledger, size, process):
    entry = _claimed(ledger)
    ledger.finish(entry, REFUSED)
    decision = ledger.decide(LOC, "etag:e1", size=size, max_bytes=1000)
    assert decision.process is process and decision.entry.outcome == REFUSED


def test_the_reason_for_a_skip_names_the_run(ledger):
    entry = _claimed(ledger)
    ledger.finish(entry, SUCCEEDED, run_id="20261126T202410Z-3f9c1a")
    assert ledger.decide(LOC, "etag:e1", size=1, max_bytes=10).reason == "already succeeded (run 20261126T202410Z-3f9c1a)"
    other = _claimed(ledger, key="etag:e2")
    ledger.finish(other, INVALID)
    assert ledger.decide(LOC, "etag:e2", size=1, max_bytes=10).reason == "already invalid"


def test_a_claim_fails_when_the_row_changed_since_it_was_read(ledger):
    entry = ledger.finish(_claimed(ledger), FAILED, run_id="run-1")
    seen = ledger.decide(LOC, "etag:e1", size=100, max_bytes=1000).entry
    # another poller retried it meanwhile and the run ended again: same outcome, another run
    ledger.finish(entry, FAILED, run_id="run-2")
    assert ledger.claim(LOC, "etag:e1", version_id=None, etag="e1", size=100, seen=seen) is None
    # ... or claimed it and is still processing: another outcome
    seen = ledger.get(LOC, "etag:e1")
    ledger.claim(LOC, "etag:e1", version_id=None, etag="e1", size=100, seen=seen)
    assert ledger.claim(LOC, "etag:e1", version_id=None, etag="e1", size=100, seen=seen) is None


def test_a_claim_without_a_run_succeeds_once(ledger):
    entry = ledger.finish(_claimed(ledger), FAILED)
    assert entry.run_id is None
    claimed = ledger.claim(LOC, "etag:e1", version_id="v9", etag="e1b", size=7, seen=entry)
    assert (claimed.outcome, claimed.finished_at, claimed.version_id, claimed.etag, claimed.size) == (
        PROCESSING, None, "v9", "e1b", 7)
    assert ledger.claim(LOC, "etag:e1", version_id="v9", etag="e1b", size=7, seen=entry) is None


def test_fetched_records_the_content_and_keeps_what_it_is_not_told(ledger):
    entry = ledger.claim(LOC, "v1", version_id="v1", etag="e1", size=100, seen=None)
    entry = ledger.fetched(entry, run_id="run-1", sha256="a" * 64, size=101)
    assert (entry.run_id, entry.sha256, entry.size, entry.etag, entry.version_id) == ("run-1", "a" * 64, 101, "e1", "v1")
    entry = ledger.fetched(entry, run_id="run-1", sha256="a" * 64, size=101, etag="e2", version_id="v2")
    assert (entry.etag, entry.version_id) == ("e2", "v2")


def test_finish_keeps_the_run_unless_told_and_stamps_the_time(ledger):
    entry = ledger.fetched(_claimed(ledger), run_id="run-1", sha256="a" * 64, size=100)
    finished = ledger.finish(entry, SUCCEEDED)
    assert finished.run_id == "run-1" and finished.outcome == SUCCEEDED and finished.finished_at is not None
    assert ledger.finish(finished, SUCCEEDED, run_id="run-2").run_id == "run-2"


def test_loaded_content_is_the_first_run_that_loaded_it(ledger, sqlite_url):
    for key, run_id, outcome in (("etag:e1", None, SUCCEEDED), ("etag:e2", "run-2", INVALID),
                                 ("etag:e3", "run-3", SUCCEEDED), ("etag:e4", "run-4", SUCCEEDED)):
        entry = ledger.fetched(_claimed(ledger, key=key), run_id=run_id, sha256="c" * 64, size=1)
        ledger.finish(entry, outcome)
    assert ledger.loaded_content("c" * 64) == "run-3"
    assert ledger.loaded_content("d" * 64) is None
    engine = make_engine(sqlite_url)
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    with engine.begin() as conn:
        for run_id, status, minutes in (("manual-late", "loaded", 9), ("manual-bad", "failed", 1),
                                        ("manual-early", "loaded", 5)):
            conn.execute(insert(PipelineRun).values(
                id=run_id, dataset="budget_workbook", source="x.xlsx", file_sha256="d" * 64, staged_sha256="0",
                status=status, counts={}, started_at=t0, finished_at=t0 + dt.timedelta(minutes=minutes)))
    engine.dispose()
    assert ledger.loaded_content("d" * 64) == "manual-early"


def test_a_prefix_is_a_prefix_not_a_like_pattern(ledger):
    for location in ("s3://b/in_1/x.xlsx", "s3://b/inX1/y.xlsx", "s3://b/in%/z.xlsx", "s3://b/in%%/w.xlsx"):
        _claimed(ledger, location=location)
    assert [e.location for e in ledger.entries("s3://b/in_1/")] == ["s3://b/in_1/x.xlsx"]
    assert [e.location for e in ledger.entries("s3://b/in%/")] == ["s3://b/in%/z.xlsx"]
    assert [e.location for e in ledger.entries()] == ["s3://b/in_1/x.xlsx", "s3://b/inX1/y.xlsx",
                                                      "s3://b/in%/z.xlsx", "s3://b/in%%/w.xlsx"]


def test_unfinished_lists_only_rows_still_processing_under_the_prefix(ledger):
    done = _claimed(ledger, location="s3://b/a/1.xlsx")
    ledger.finish(done, FAILED)
    left = _claimed(ledger, location="s3://b/a/2.xlsx")
    _claimed(ledger, location="s3://b/z/3.xlsx")
    assert [e.id for e in ledger.unfinished("s3://b/a/")] == [left.id]
    assert len(ledger.unfinished()) == 2


def test_a_version_without_any_key_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"^an object version needs a version id, an ETag or a sha256$"):
        version_key(None, None, None)


def test_the_same_version_key_at_two_locations_is_two_versions(ledger):
    # The same bytes uploaded under two names share their ETag: each upload is processed.
    entry = _claimed(ledger, location="s3://b/in/a.xlsx", key="etag:same")
    ledger.finish(entry, SUCCEEDED, run_id="run-1")
    decision = ledger.decide("s3://b/in/b.xlsx", "etag:same", size=1, max_bytes=10)
    assert decision.process and decision.reason == "new" and decision.entry is None
    assert ledger.get("s3://b/in/b.xlsx", "etag:same") is None
    assert ledger.get("s3://b/in/a.xlsx", "etag:same").run_id == "run-1"


def test_a_ledger_whose_database_breaks_says_which_and_why(ledger, sqlite_url):
    from sqlalchemy import text

    from ops_pipeline.errors import DatabaseError
    entry = _claimed(ledger)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE ops_pipeline_source_file"))
    engine.dispose()
    for call in (lambda: ledger.get(LOC, "etag:e1"), lambda: _claimed(ledger),
                 lambda: ledger.entries("s3://"), lambda: ledger.finish(entry, FAILED),
                 lambda: ledger.fetched(entry, run_id="r", sha256=None, size=None)):
        with pytest.raises(DatabaseError) as caught:
            call()
        assert str(caught.value).startswith("cannot use the sqlite at ") and "no such table" in str(caught.value)


@pytest.mark.parametrize("outcome", [PROCESSING, "done", ""])
def test_finish_names_the_outcome_it_refuses(ledger, outcome):
    entry = _claimed(ledger)
    with pytest.raises(ValueError) as caught:
        ledger.finish(entry, outcome)
    assert str(caught.value) == f"not a final ledger outcome: {outcome!r}"
    assert ledger.get(LOC, "etag:e1").outcome == PROCESSING


def test_a_decision_to_skip_carries_the_row_it_read(ledger):
    entry = ledger.finish(_claimed(ledger), INVALID)
    decision = ledger.decide(LOC, "etag:e1", size=1, max_bytes=10)
    assert decision.process is False and decision.entry == entry


def test_a_ledger_that_cannot_open_its_database_says_which_and_why(tmp_path):
    from ops_pipeline.errors import DatabaseError
    with pytest.raises(DatabaseError) as caught:
        Ledger(f"sqlite:///{tmp_path / 'no-such-folder' / 'ops.db'}")
    assert str(caught.value) == "cannot use the sqlite at " + str(tmp_path / "no-such-folder" / "ops.db") + \
        ": unable to open database file"


def test_a_failed_run_is_claimed_again_once(ledger):
    entry = ledger.fetched(_claimed(ledger), run_id="run-1", sha256="a" * 64, size=100)
    ledger.finish(entry, FAILED)
    seen = ledger.decide(LOC, "etag:e1", size=100, max_bytes=1000).entry
    assert seen.run_id == "run-1"
    claimed = ledger.claim(LOC, "etag:e1", version_id=None, etag="e1", size=100, seen=seen)
    assert claimed is not None and claimed.outcome == PROCESSING
    assert ledger.claim(LOC, "etag:e1", version_id=None, etag="e1", size=100, seen=seen) is None
