"""poll: every new object processed once, against a real S3-protocol server (moto.server),
a real SMTP server and a real HTTPS webhook receiver. Nothing is mocked in-process."""
from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

import tests.s3_server as s3_server
from ops_pipeline import rundir
from ops_pipeline.cli import cli
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.models import PipelineRun, SourceFile
from ops_pipeline.db.ops_models import BudgetLineItem
from ops_pipeline.errors import ExitCode, StorageError, UsageError
from ops_pipeline.ledger import Ledger, version_key
from ops_pipeline.notify import parse_notify_targets
from ops_pipeline.poll import PollOptions, StopRequest, parse_interval, poll, poll_pass
from ops_pipeline.rundir import RunDir, find_runs
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.sources.s3 import make_client
from tests.conftest import good_row, write_workbook
from tests.notify_servers import (  # noqa: F401 - fixtures
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    ca_file,
    server_tls_context,
    smtp_starttls_server,
    tls_ca,
    webhook_receiver,
)
from tests.s3_server import *  # noqa: F401,F403  (fixtures)

REPO = Path(__file__).resolve().parents[1]


# -- helpers -----------------------------------------------------------------------------------


def workbook(tmp_path: Path, seed: int, *, dirty: bool = False, rows: int = 60) -> bytes:
    path = tmp_path / "books" / f"seed{seed}-{'dirty' if dirty else 'clean'}-{rows}.xlsx"
    path.parent.mkdir(exist_ok=True)
    return write_sample_workbook(path, rows=rows, seed=seed, dirty=dirty).read_bytes()


def put(client, bucket: str, key: str, body: bytes) -> dict:
    return client.put_object(Bucket=bucket, Key=key, Body=body)


def options(tmp_path: Path, db_url: str, **kwargs) -> PollOptions:
    return PollOptions(runs_root=tmp_path / "runs", db_url=db_url, **kwargs)


def ledger_rows(db_url: str) -> list:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = list(conn.execute(select(SourceFile).order_by(SourceFile.id)))
    engine.dispose()
    return rows


def count(db_url: str, model) -> int:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        value = conn.execute(select(func.count()).select_from(model)).scalar()
    engine.dispose()
    return value


def loads_per_content(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(PipelineRun.file_sha256, func.count()).where(PipelineRun.status == "loaded")
                            .group_by(PipelineRun.file_sha256))
        result = {sha: n for sha, n in rows}
    engine.dispose()
    return result


def outcomes(result) -> list[tuple[str, str]]:
    return [(r.uri.rsplit("/", 1)[-1], r.outcome) for r in result.results]


def count_gets(client) -> list[str]:
    seen: list[str] = []
    client.meta.events.register("before-send.s3.GetObject", lambda request, **_: seen.append(request.url))
    return seen


# -- new, same, duplicate, new version ---------------------------------------------------------


def test_a_new_file_is_processed_once_and_recorded(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    body = workbook(tmp_path, 1)
    etag = put(client, bucket, "incoming/fy25.xlsx", body)["ETag"].strip('"')
    uri = f"s3://{bucket}/incoming/"

    first = poll_pass(uri, options(tmp_path, sqlite_url), client=client)

    assert outcomes(first) == [("fy25.xlsx", "succeeded")]
    assert first.exit_code == ExitCode.OK and first.error is None and first.skipped == 0
    (result,) = first.results
    assert result.status == "succeeded" and result.error is None
    run = RunDir(result.run_dir)
    assert run.run_id == result.run_id
    assert [run.status(stage) for stage in rundir.STAGES] == ["succeeded"] * 5
    assert (run.path / "report" / "report.json").is_file()
    (row,) = ledger_rows(sqlite_url)
    assert (row.location, row.version_key, row.version_id, row.etag, row.size, row.sha256, row.run_id,
            row.outcome) == (f"s3://{bucket}/incoming/fy25.xlsx", f"etag:{etag}", None, etag, len(body),
                             hashlib.sha256(body).hexdigest(), run.run_id, "succeeded")
    assert row.finished_at is not None
    assert count(sqlite_url, BudgetLineItem) == 60

    # the same file again: skipped, nothing new on disk or in the database
    again = poll_pass(uri, options(tmp_path, sqlite_url), client=client)
    assert (again.results, again.skipped, again.exit_code) == ([], 1, ExitCode.OK)
    assert len(find_runs(tmp_path / "runs")) == 1
    assert count(sqlite_url, PipelineRun) == 1 and len(ledger_rows(sqlite_url)) == 1


def test_the_same_content_under_another_name_is_a_duplicate(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    body = workbook(tmp_path, 1)
    put(client, bucket, "incoming/fy25.xlsx", body)
    (original,) = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client).results

    put(client, bucket, "incoming/fy25 (copy).xlsx", body)
    second = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client)

    assert outcomes(second) == [("fy25 (copy).xlsx", "duplicate")]
    assert second.exit_code == ExitCode.OK and second.skipped == 1
    (dup,) = second.results
    assert (dup.duplicate_of, dup.run_id, dup.run_dir) == (original.run_id, original.run_id, None)
    assert dup.line() == (f"duplicate   s3://{bucket}/incoming/fy25 (copy).xlsx: same content as run "
                          f"{original.run_id}, not loaded again")
    assert [p.name for p in find_runs(tmp_path / "runs")] == [original.run_id]  # no run for the copy
    rows = ledger_rows(sqlite_url)
    assert [(r.outcome, r.run_id) for r in rows] == [("succeeded", original.run_id), ("duplicate", original.run_id)]
    assert rows[0].sha256 == rows[1].sha256
    assert loads_per_content(sqlite_url) == {rows[0].sha256: 1}


def test_a_new_version_of_a_key_is_processed(s3_versioned_bucket, sqlite_url, tmp_path):
    client, bucket = s3_versioned_bucket
    v1 = put(client, bucket, "incoming/fy25.xlsx", workbook(tmp_path, 1))["VersionId"]
    first = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client)
    v2 = put(client, bucket, "incoming/fy25.xlsx", workbook(tmp_path, 2))["VersionId"]
    second = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client)

    assert [(r.version_id, r.outcome) for r in first.results] == [(v1, "succeeded")]
    assert [(r.version_id, r.outcome) for r in second.results] == [(v2, "succeeded")]
    assert second.results[0].line().startswith(f"succeeded   s3://{bucket}/incoming/fy25.xlsx (version {v2}) run ")
    rows = ledger_rows(sqlite_url)
    assert [(r.version_key, r.version_id, r.outcome) for r in rows] == [(v1, v1, "succeeded"), (v2, v2, "succeeded")]
    assert len(loads_per_content(sqlite_url)) == 2
    assert poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client).results == []


def test_an_invalid_file_is_not_retried_but_a_new_upload_is(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    uri = f"s3://{bucket}/incoming/"
    dirty = workbook(tmp_path, 3, dirty=True)
    put(client, bucket, "incoming/fy25.xlsx", dirty)

    first = poll_pass(uri, options(tmp_path, sqlite_url), client=client)
    assert outcomes(first) == [("fy25.xlsx", "invalid")] and first.exit_code == ExitCode.DATA_INVALID
    assert first.results[0].status == "invalid"
    assert first.results[0].error == {"code": "data-invalid",
                                      "message": "validate rejected 6 rows; nothing is transformed or loaded "
                                                 "(hint: fix the file, or load the valid rows with --accept-rejects)"}
    assert count(sqlite_url, PipelineRun) == 0

    assert poll_pass(uri, options(tmp_path, sqlite_url), client=client).results == []  # not every poll

    put(client, bucket, "incoming/fy25.xlsx", workbook(tmp_path, 3))  # fixed and uploaded again
    put(client, bucket, "incoming/fy25-resent.xlsx", dirty)  # the same bad bytes, sent again on purpose
    third = poll_pass(uri, options(tmp_path, sqlite_url), client=client)
    assert sorted(outcomes(third)) == [("fy25-resent.xlsx", "invalid"), ("fy25.xlsx", "succeeded")]
    assert third.exit_code == ExitCode.DATA_INVALID
    assert sorted((r.location.rsplit("/", 1)[-1], r.outcome) for r in ledger_rows(sqlite_url)) == [
        ("fy25-resent.xlsx", "invalid"), ("fy25.xlsx", "invalid"), ("fy25.xlsx", "succeeded")]


def test_huge_numbers_and_nul_cells_are_invalid_files_never_crashed_or_retried(s3_bucket, sqlite_url, tmp_path):
    """A 1e27 amount, a 30-digit amount text, a 1e300 fee and a NUL (_x0000_) cell: findings, so
    the file is invalid once and for all; not crashed, not a database error retried every pass."""
    client, bucket = s3_bucket
    uri = f"s3://{bucket}/incoming/"
    rows = [good_row(budget_id=1, amount=1e27), good_row(budget_id=2, amount="1" * 30),
            good_row(budget_id=3, fee=1e300), good_row(budget_id=4, desc="Year_x0000_1"), good_row(budget_id=5)]
    put(client, bucket, "incoming/odd.xlsx", write_workbook(tmp_path / "odd.xlsx", rows).read_bytes())
    first = poll_pass(uri, options(tmp_path, sqlite_url), client=client)
    assert outcomes(first) == [("odd.xlsx", "invalid")] and first.exit_code == ExitCode.DATA_INVALID
    assert first.results[0].error == {"code": "data-invalid",
                                      "message": "validate rejected 4 rows; nothing is transformed or loaded "
                                                 "(hint: fix the file, or load the valid rows with --accept-rejects)"}
    assert poll_pass(uri, options(tmp_path, sqlite_url), client=client).results == []
    assert count(sqlite_url, BudgetLineItem) == 0


# -- bad files, evil keys ------------------------------------------------------------------------


def test_one_bad_file_does_not_stop_the_others(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    uri = f"s3://{bucket}/incoming/"
    put(client, bucket, "incoming/a-huge.xlsx", os.urandom(40_000))
    put(client, bucket, "incoming/b-broken.xlsx", b"this is not a workbook")
    put(client, bucket, "incoming/c-good.xlsx", workbook(tmp_path, 4))
    gets = count_gets(client)

    result = poll_pass(uri, options(tmp_path, sqlite_url, max_bytes=30_000), client=client)

    assert outcomes(result) == [("a-huge.xlsx", "refused"), ("b-broken.xlsx", "invalid"),
                                ("c-good.xlsx", "succeeded")]
    assert result.exit_code == ExitCode.DATA_INVALID
    assert not any("a-huge" in url for url in gets)  # refused before download
    refused = result.results[0]
    assert refused.error["code"] == "limit-exceeded" and refused.status == "failed"
    assert RunDir(refused.run_dir).stage_info("fetch")["error"]["code"] == "limit-exceeded"
    assert result.results[1].error["code"] in ("unreadable-file", "data-invalid")
    rows = ledger_rows(sqlite_url)
    assert [(r.outcome, r.size, r.sha256 is None) for r in rows] == [
        ("refused", 40_000, True), ("invalid", 22, False), ("succeeded", rows[2].size, False)]
    assert count(sqlite_url, BudgetLineItem) == 60

    assert poll_pass(uri, options(tmp_path, sqlite_url, max_bytes=30_000), client=client).skipped == 3
    # with a higher limit the refused object is taken (and found not to be a workbook)
    raised = poll_pass(uri, options(tmp_path, sqlite_url, max_bytes=50_000), client=client)
    assert outcomes(raised) == [("a-huge.xlsx", "invalid")]


def test_a_file_that_crashes_the_pipeline_is_not_retried_every_pass(s3_bucket, sqlite_url, tmp_path, monkeypatch):
    """A bug that one file triggers would crash (and notify) on every pass: it is recorded once."""
    import ops_pipeline.pipeline as pipeline_module  # the orchestrator the poller runs the stages through

    client, bucket = s3_bucket
    uri = f"s3://{bucket}/incoming/"
    put(client, bucket, "incoming/a-crashes.xlsx", workbook(tmp_path, 5))
    put(client, bucket, "incoming/b-good.xlsx", workbook(tmp_path, 6))
    real_transform = pipeline_module.transform

    def transform(run, **kwargs):
        if run.manifest["source"]["key"].endswith("a-crashes.xlsx"):
            raise ZeroDivisionError("a bug in a rule")
        return real_transform(run, **kwargs)

    monkeypatch.setattr(pipeline_module, "transform", transform)
    first = poll_pass(uri, options(tmp_path, sqlite_url), client=client)
    assert outcomes(first) == [("a-crashes.xlsx", "crashed"), ("b-good.xlsx", "succeeded")]
    assert first.exit_code == ExitCode.RUN_FAILED
    assert first.results[0].error == {"code": "internal-error", "message": "ZeroDivisionError: a bug in a rule"}

    again = poll_pass(uri, options(tmp_path, sqlite_url), client=client)
    assert again.results == [] and again.skipped == 2 and again.exit_code == ExitCode.OK

    monkeypatch.setattr(pipeline_module, "transform", real_transform)  # the bug fixed, the file sent again
    put(client, bucket, "incoming/a-crashes.xlsx", workbook(tmp_path, 7))
    fixed = poll_pass(uri, options(tmp_path, sqlite_url), client=client)
    assert outcomes(fixed) == [("a-crashes.xlsx", "succeeded")]


def test_an_evil_key_stays_inside_the_run_directory(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    put(client, bucket, "incoming/../../evil.xlsx", workbook(tmp_path, 5))
    result = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url, move=True), client=client)

    (done,) = result.results
    assert done.outcome == "succeeded" and done.uri == f"s3://{bucket}/incoming/../../evil.xlsx"
    evil = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*evil*"))
    assert evil == [f"runs/{done.run_id}/fetch/evil.xlsx"]
    assert done.moved_to == f"s3://{bucket}/processed/{done.run_id}/evil.xlsx"


# -- move ------------------------------------------------------------------------------------------


def test_move_copies_the_object_and_its_report_encrypted(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    good, bad = workbook(tmp_path, 6), workbook(tmp_path, 7, dirty=True)
    put(client, bucket, "data/incoming/good.xlsx", good)
    put(client, bucket, "data/incoming/bad.xlsx", bad)

    result = poll_pass(f"s3://{bucket}/data/incoming", options(tmp_path, sqlite_url, move=True), client=client)

    by_name = {r.uri.rsplit("/", 1)[-1]: r for r in result.results}
    ok, rejected = by_name["good.xlsx"], by_name["bad.xlsx"]
    assert (ok.outcome, rejected.outcome) == ("succeeded", "invalid")
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted([
        "data/incoming/bad.xlsx", "data/incoming/good.xlsx",  # the originals stay
        f"data/processed/{ok.run_id}/good.xlsx", f"data/processed/{ok.run_id}/report.json",
        f"data/rejected/{rejected.run_id}/bad.xlsx", f"data/rejected/{rejected.run_id}/report.json",
    ])
    assert ok.report_uri == f"s3://{bucket}/data/processed/{ok.run_id}/report.json"
    assert ok.move_error is None and rejected.move_error is None
    for res, body in ((ok, good), (rejected, bad)):
        folder = res.moved_to.rsplit("/", 1)[0].split(f"s3://{bucket}/", 1)[1]
        copy = client.get_object(Bucket=bucket, Key=res.moved_to.split(f"s3://{bucket}/", 1)[1])
        assert copy["Body"].read() == body
        report = client.get_object(Bucket=bucket, Key=f"{folder}/report.json")
        assert report["ServerSideEncryption"] == "AES256"
        assert report["Body"].read() == (Path(res.run_dir) / "report" / "report.json").read_bytes()


def test_move_needs_a_prefix(aws_env, sqlite_url, tmp_path):
    with pytest.raises(UsageError) as caught:
        poll_pass("s3://budget-uploads/", options(tmp_path, sqlite_url, move=True))
    assert str(caught.value).startswith("--move needs a prefix such as s3://bucket/incoming/")


# -- killed, stopped, unreachable ----------------------------------------------------------------


def test_a_leftover_processing_row_is_retried(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    etag = put(client, bucket, "incoming/fy25.xlsx", workbook(tmp_path, 8))["ETag"].strip('"')
    location = f"s3://{bucket}/incoming/fy25.xlsx"
    with Ledger(sqlite_url) as ledger:  # a poller killed right after claiming the file
        ledger.claim(location, version_key(None, etag), version_id=None, etag=etag, size=1, seen=None)

    result = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client)

    assert outcomes(result) == [("fy25.xlsx", "succeeded")]
    (row,) = ledger_rows(sqlite_url)
    assert (row.outcome, row.run_id) == ("succeeded", result.results[0].run_id)


def test_a_poller_killed_after_the_load_committed_does_not_load_again(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    put(client, bucket, "incoming/fy25.xlsx", workbook(tmp_path, 9))
    (first,) = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client).results
    engine = make_engine(sqlite_url)  # as if killed between the load's commit and the ledger update
    with engine.begin() as conn:
        conn.execute(update(SourceFile).values(outcome="processing", finished_at=None))
    engine.dispose()

    (again,) = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client).results

    assert (again.outcome, again.run_id, again.duplicate_of) == ("succeeded", first.run_id, None)
    assert [(r.outcome, r.run_id) for r in ledger_rows(sqlite_url)] == [("succeeded", first.run_id)]
    assert count(sqlite_url, PipelineRun) == 1
    assert [p.name for p in find_runs(tmp_path / "runs")] == [first.run_id]


def restart_moto_on(port: int, monkeypatch) -> s3_server.MotoServer:
    with monkeypatch.context() as patch:
        patch.setattr(s3_server, "free_port", lambda: port)
        return s3_server.MotoServer()


def test_the_endpoint_going_away_mid_poll(s3_endpoint_killable, sqlite_url, tmp_path, monkeypatch):
    server = s3_endpoint_killable
    client = make_client(server.url, connect_timeout=1, read_timeout=2, max_attempts=2)
    books = {name: workbook(tmp_path, seed) for seed, name in enumerate(("a.xlsx", "b.xlsx", "c.xlsx"), 10)}

    def upload():
        client.create_bucket(Bucket="going-away")
        for name, body in books.items():
            put(client, "going-away", f"incoming/{name}", body)

    upload()
    fetches: list[str] = []

    def kill_on_second_fetch(event):
        if event["stage"] == "fetch" and event["event"] == "stage-started":
            fetches.append(event)
            if len(fetches) == 2:
                server.stop()

    rundir.EVENT_LISTENERS.append(kill_on_second_fetch)
    try:
        started = time.monotonic()
        result = poll_pass("s3://going-away/incoming/", options(tmp_path, sqlite_url), client=client)
        assert time.monotonic() - started < 10
    finally:
        rundir.EVENT_LISTENERS.remove(kill_on_second_fetch)

    assert outcomes(result) == [("a.xlsx", "succeeded"), ("b.xlsx", "failed")]
    assert isinstance(result.error, StorageError) and result.exit_code == ExitCode.RUN_FAILED
    assert result.error.one_line() == (f"fetch: s3://going-away/incoming/b.xlsx: cannot reach the object store at "
                                       f"127.0.0.1:{server.port} (hint: check the endpoint and the network, "
                                       "then retry)")
    failed = result.results[1]
    assert failed.error["code"] == "storage" and failed.status == "failed"
    assert RunDir(failed.run_dir).status("fetch") == "failed"
    assert [(r.location.rsplit("/", 1)[-1], r.outcome) for r in ledger_rows(sqlite_url)] == [
        ("a.xlsx", "succeeded"), ("b.xlsx", "failed")]  # c.xlsx was never claimed

    back = restart_moto_on(server.port, monkeypatch)  # the same endpoint, back (moto forgets: re-upload)
    try:
        upload()
        later = poll_pass("s3://going-away/incoming/", options(tmp_path, sqlite_url), client=client)
    finally:
        back.cleanup()
    assert outcomes(later) == [("b.xlsx", "succeeded"), ("c.xlsx", "succeeded")]
    assert later.skipped == 1 and later.exit_code == ExitCode.OK
    assert [r.outcome for r in ledger_rows(sqlite_url)] == ["succeeded"] * 3
    assert sorted(loads_per_content(sqlite_url).values()) == [1, 1, 1]


def test_the_loop_stops_when_asked(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    put(client, bucket, "incoming/fy25.xlsx", workbook(tmp_path, 1))
    stop, passes = StopRequest(), []

    def on_pass(result):
        passes.append(outcomes(result))
        if len(passes) == 2:
            stop.set("test")

    started = time.monotonic()
    code = poll(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), every=0.2, stop=stop, client=client,
                on_pass=on_pass)
    assert code == ExitCode.OK and passes == [[("fy25.xlsx", "succeeded")], []]
    assert time.monotonic() - started < 5


def test_stop_requested_between_stages_leaves_the_file_for_the_next_poller(s3_bucket, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    put(client, bucket, "incoming/a.xlsx", workbook(tmp_path, 1))
    put(client, bucket, "incoming/b.xlsx", workbook(tmp_path, 2))
    stop = StopRequest()

    def stop_during_validate(event):
        if event["stage"] == "validate" and event["event"] == "stage-started":
            stop.set("SIGTERM")

    rundir.EVENT_LISTENERS.append(stop_during_validate)
    try:
        result = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client, stop=stop)
    finally:
        rundir.EVENT_LISTENERS.remove(stop_during_validate)

    assert outcomes(result) == [("a.xlsx", "interrupted")] and result.stopped
    assert result.exit_code == ExitCode.RUN_FAILED
    run = RunDir(result.results[0].run_dir)
    assert [run.status(s) for s in rundir.STAGES] == ["succeeded", "succeeded", "pending", "pending", "succeeded"]
    assert [r.outcome for r in ledger_rows(sqlite_url)] == ["interrupted"]
    assert count(sqlite_url, PipelineRun) == 0

    resumed = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, sqlite_url), client=client)
    assert outcomes(resumed) == [("a.xlsx", "succeeded"), ("b.xlsx", "succeeded")]


def test_signals_request_a_stop_then_interrupt(tmp_path):
    from ops_pipeline.poll import stop_on_signals

    before = signal.getsignal(signal.SIGTERM)
    stop = StopRequest()
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(2) and stop.reason == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGTERM) is before


def test_parse_interval():
    assert [parse_interval(t) for t in ("5m", "30s", "1h", "90", "1.5s", "2 min", "1s", "24h", "1440m")] == [
        300, 30, 3600, 90, 1.5, 120, 1, 86400, 86400]
    for bad in ("", "5x", "-1s", "0", "m", "0.5s", "24.01h", "86401", "99999999999999999999h", "1e400s"):
        with pytest.raises(UsageError):
            parse_interval(bad)


# -- the command line ----------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


def test_cli_poll_once_exit_codes(s3_bucket, s3_endpoint, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    base = ["--runs-root", str(tmp_path / "runs"), "poll", f"s3://{bucket}/incoming/", "--db", sqlite_url,
            "--endpoint-url", s3_endpoint]

    nothing = invoke(*base, "--once")
    assert (nothing.exit_code, nothing.stdout) == (0, "")
    assert nothing.stderr == f"pass over s3://{bucket}/incoming/: nothing new\n"

    put(client, bucket, "incoming/bad.xlsx", workbook(tmp_path, 3, dirty=True))
    invalid = invoke(*base, "--once")
    assert invalid.exit_code == 1
    (line,) = invalid.stdout.splitlines()
    assert line.startswith(f"invalid     s3://{bucket}/incoming/bad.xlsx run ")
    assert line.endswith(": data-invalid: validate rejected 6 rows; nothing is transformed or loaded "
                         "(hint: fix the file, or load the valid rows with --accept-rejects)")
    assert invalid.stderr == f"pass over s3://{bucket}/incoming/: 1 invalid\n"

    put(client, bucket, "incoming/good.xlsx", workbook(tmp_path, 4))
    good = invoke(*base, "--once", "--json")
    assert good.exit_code == 0
    (record,) = [json.loads(x) for x in good.stdout.splitlines()]
    assert (record["uri"], record["outcome"], record["status"]) == (
        f"s3://{bucket}/incoming/good.xlsx", "succeeded", "succeeded")
    assert good.stderr == f"pass over s3://{bucket}/incoming/: 1 succeeded, 1 skipped\n"

    for wrong in ([], ["--once", "--every", "5m"]):
        result = invoke(*base, *wrong)
        assert result.exit_code == 2
        assert result.stderr == "error: give exactly one of --once and --every INTERVAL\n"
    assert invoke(*base, "--every", "soon").exit_code == 2


def test_cli_poll_unreachable_endpoint_exit_3(aws_env, sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("OPS_PIPELINE_S3_ATTEMPTS", "1")
    url = closed_port_url()
    result = invoke("--runs-root", str(tmp_path / "runs"), "poll", "s3://budget-uploads/incoming/", "--once",
                    "--db", sqlite_url, "--endpoint-url", url)  # the pass's heartbeat goes there
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (  # the error only: a pass that could not look found nothing "new"
        f"error: s3://budget-uploads/incoming/: cannot reach the object store at {url.split('://')[1]} "
        "(hint: check the endpoint and the network, then retry)\n")


def test_cli_poll_without_schema_refuses_to_start(aws_env, tmp_path, s3_endpoint):
    result = invoke("poll", "s3://budget-uploads/incoming/", "--once", "--db", f"sqlite:///{tmp_path / 'x.db'}",
                    "--endpoint-url", s3_endpoint)
    assert result.exit_code == 3
    assert result.stderr == ("error: the database has no ops-pipeline schema "
                             "(hint: create it with: ops-pipeline db init --db URL)\n")


# -- notifications carry no data -----------------------------------------------------------------

CANARIES = ["Quentin Canarywood", "quentin.canarywood@example.org", "123-45-6789",
            "Zebulon Canaryfield", "zeb.canaryfield@example.net", "987-65-4321", "Canarywood", "Canaryfield"]


@pytest.fixture
def notify_env(monkeypatch, smtp_starttls_server, webhook_receiver, ca_file):
    for name, value in {
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_starttls_server.port), "SMTP_SECURITY": "starttls",
        "SMTP_USER": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD, "SMTP_FROM": "ops-pipeline@example.gov",
        "SMTP_TO": "budget-team@example.gov", "SMTP_CA_FILE": ca_file,
        "WEBHOOK_URL": webhook_receiver.url, "WEBHOOK_SECRET": WEBHOOK_SECRET, "WEBHOOK_CA_FILE": ca_file,
    }.items():
        monkeypatch.setenv(f"OPS_PIPELINE_{name}", value)
    return smtp_starttls_server, webhook_receiver


def canary_workbook(tmp_path: Path) -> bytes:
    rows = [
        good_row(comments="Per Quentin Canarywood <quentin.canarywood@example.org>, SSN 123-45-6789"),
        good_row(budget_id=15002, status="Zebulon Canaryfield zeb.canaryfield@example.net 987-65-4321"),
        good_row(budget_id=15003, comments="fine"),
    ]
    return write_workbook(tmp_path / "canary.xlsx", rows).read_bytes()


def test_pii_canaries_never_reach_a_notification(s3_bucket, s3_endpoint, sqlite_url, tmp_path, notify_env):
    smtp, webhook = notify_env
    client, bucket = s3_bucket
    put(client, bucket, "incoming/canary.xlsx", canary_workbook(tmp_path))

    result = invoke("--runs-root", str(tmp_path / "runs"), "poll", f"s3://{bucket}/incoming/", "--once",
                    "--db", sqlite_url, "--endpoint-url", s3_endpoint, "--notify", "email,webhook")

    assert result.exit_code == 1, result.stderr
    assert "notify email: sent\nnotify webhook: sent\n" in result.stderr
    (run_dir,) = find_runs(tmp_path / "runs")
    staged = (run_dir / "validate" / "rejected.jsonl").read_text() + (run_dir / "validate" / "valid_rows.jsonl").read_text()
    assert "Zebulon Canaryfield" in staged and "Quentin Canarywood" in staged  # the canaries were really read

    (mail,) = smtp.messages
    (delivery,) = webhook.deliveries
    assert mail.tls and mail.authenticated and delivery.accepted
    body = email.message_from_bytes(mail.raw, policy=email.policy.default).get_body().get_content()
    notification = json.loads(delivery.body)
    assert notification["status"] == "invalid" and notification["findings"] == {"unknown-status": 1}
    assert notification["report_path"] == str(run_dir / "report" / "report.json")
    assert f"ops-pipeline run {run_dir.name}" in body
    seen = {"e-mail": mail.raw.decode("utf-8", "replace") + body, "webhook": delivery.body.decode()
            + json.dumps(delivery.headers), "stdout": result.stdout, "stderr": result.stderr}
    for where, text in seen.items():
        assert [c for c in CANARIES if c.lower() in text.lower()] == [], where


def test_cli_report_and_run_notify(tmp_path, sqlite_url, notify_env):
    smtp, webhook = notify_env
    path = tmp_path / "budget.xlsx"
    path.write_bytes(workbook(tmp_path, 1))
    ran = invoke("--runs-root", str(tmp_path / "runs"), "run", str(path), "--db", sqlite_url, "--notify", "email")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr == "notify email: sent\n"
    (run_dir,) = find_runs(tmp_path / "runs")

    reported = invoke("--runs-root", str(tmp_path / "runs"), "report", run_dir.name, "--format", "json",
                      "--notify", "email", "--notify", "webhook")
    assert reported.stderr == "notify email: sent\nnotify webhook: sent\n"
    assert reported.exit_code == 0
    assert json.loads(reported.stdout)["status"] == "succeeded"
    (delivery,) = webhook.accepted
    assert json.loads(delivery.body)["status"] == "succeeded"
    assert json.loads(delivery.body)["run_id"] == run_dir.name
    assert len(smtp.messages) == 2


def test_cli_report_exits_3_when_a_notification_fails(tmp_path, sqlite_url, notify_env, monkeypatch):
    monkeypatch.setenv("OPS_PIPELINE_SMTP_PASSWORD", "not-the-password-1234")
    path = tmp_path / "budget.xlsx"
    path.write_bytes(workbook(tmp_path, 1))
    assert invoke("--runs-root", str(tmp_path / "runs"), "run", str(path), "--db", sqlite_url).exit_code == 0
    (run_dir,) = find_runs(tmp_path / "runs")
    reported = invoke("--runs-root", str(tmp_path / "runs"), "report", str(run_dir), "--notify", "email")
    assert reported.exit_code == 3
    assert reported.stderr.splitlines() == [
        f"notify email: failed: e-mail: SMTP server 127.0.0.1:{notify_env[0].port} rejected the login for user "
        f"'{SMTP_USER}' (SMTP 535)",
        "error: the notification could not be sent "
        "(hint: check the OPS_PIPELINE_SMTP_* / OPS_PIPELINE_WEBHOOK_* settings)"]
    assert "not-the-password-1234" not in reported.output


def test_cli_notify_not_configured_is_a_usage_error(tmp_path, monkeypatch, sqlite_url):
    for name in ("SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "SMTP_FROM", "SMTP_TO"):
        monkeypatch.delenv(f"OPS_PIPELINE_{name}", raising=False)
    path = tmp_path / "budget.xlsx"
    path.write_bytes(workbook(tmp_path, 1))
    result = invoke("--runs-root", str(tmp_path / "runs"), "run", str(path), "--db", sqlite_url, "--notify", "email")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --notify email: not configured; set OPS_PIPELINE_SMTP_HOST")
    assert find_runs(tmp_path / "runs") == []  # refused before any work


def test_parse_notify_targets_accepts_what_the_poller_is_given(notify_env):
    targets = parse_notify_targets(["email,webhook"])
    assert [type(t).__name__ for t in targets] == ["EmailSettings", "WebhookSettings"]


# -- a real poller process, stopped with SIGTERM and restarted --------------------------------------


def test_a_poller_stopped_with_sigterm_resumes_without_loss_or_repeat(s3_bucket, s3_endpoint, sqlite_url, tmp_path,
                                                                      aws_env):
    client, bucket = s3_bucket
    names = [f"incoming/{n}.xlsx" for n in ("a", "b", "c", "d")]
    for seed, key in enumerate(names, 20):
        put(client, bucket, key, workbook(tmp_path, seed, rows=500))
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "ops_pipeline", "--runs-root", str(runs), "poll", f"s3://{bucket}/incoming/",
               "--db", sqlite_url, "--endpoint-url", s3_endpoint]
    env = dict(os.environ, PYTHONPATH=str(REPO))

    poller = subprocess.Popen([*command, "--every", "1s"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 30
        while not (runs.is_dir() and any((p / "validate").is_dir() for p in runs.iterdir())):
            assert poller.poll() is None, poller.communicate()
            assert time.monotonic() < deadline, "the poller did not start working"
            time.sleep(0.02)
        poller.send_signal(signal.SIGTERM)
        stdout, stderr = poller.communicate(timeout=30)
    finally:
        if poller.poll() is None:
            poller.kill()
            poller.wait()

    assert poller.returncode == 0, stderr
    assert "stopped on SIGTERM; an interrupted file is retried on the next start" in stderr
    first = ledger_rows(sqlite_url)
    assert first and {r.outcome for r in first} <= {"succeeded", "interrupted"}
    assert len(first) < len(names)  # it stopped before the end
    for run_dir in find_runs(runs):
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert "running" not in {s["status"] for s in manifest["stages"].values()}, run_dir.name
    interrupted = [r.run_id for r in first if r.outcome == "interrupted"]
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        loaded_runs = set(conn.execute(select(PipelineRun.id)).scalars())
    engine.dispose()
    assert not loaded_runs & set(interrupted)  # an interrupted file loaded nothing
    assert len(stdout.splitlines()) == len(first)

    again = subprocess.run([*command, "--once"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    rows = ledger_rows(sqlite_url)
    assert [(r.location.rsplit("/", 1)[-1], r.outcome) for r in rows] == [
        (k.rsplit("/", 1)[-1], "succeeded") for k in names]
    assert sorted(loads_per_content(sqlite_url).values()) == [1, 1, 1, 1]  # nothing loaded twice
    assert len(again.stdout.splitlines()) == len(names) - sum(r.outcome == "succeeded" for r in first)


# -- PostgreSQL -----------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_poll_on_postgresql(s3_bucket, pg_schema_url, tmp_path):
    client, bucket = s3_bucket
    body = workbook(tmp_path, 1)
    put(client, bucket, "incoming/fy25.xlsx", body)
    put(client, bucket, "incoming/fy25-copy.xlsx", body)
    result = poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, pg_schema_url), client=client)
    assert [r.outcome for r in result.results] == ["succeeded", "duplicate"]  # whichever is older goes first
    assert sorted(r.outcome for r in ledger_rows(pg_schema_url)) == ["duplicate", "succeeded"]
    assert count(pg_schema_url, BudgetLineItem) == 60
    assert poll_pass(f"s3://{bucket}/incoming/", options(tmp_path, pg_schema_url), client=client).skipped == 2


#: Object keys as senders name their uploads: PII in the key must not reach the terminal.
PII_KEYS = ("incoming/zebulon.canary@example.gov budget.xlsx", "incoming/SSN 078-05-1120.xlsx",
            "incoming/ssn 078051120.xlsx", "incoming/call +44 20 7946 0958.xlsx",
            "incoming/zebulón@exämple.org.xlsx")
KEY_CANARIES = ("zebulon", "example.gov", "078-05-1120", "078051120", "7946", "zebul", "exämple")


def test_object_keys_are_scrubbed_in_poll_lines_and_json(s3_bucket, s3_endpoint, sqlite_url, tmp_path):
    """Lines, --json fields (uri, moved_to, report_uri, error) and the pass summary show object keys
    scrubbed; the copy --move makes is named from the scrubbed key, so moved_to names it truly."""
    client, bucket = s3_bucket
    for index, key in enumerate(PII_KEYS):
        put(client, bucket, key, workbook(tmp_path, 20 + index, dirty=index % 2 == 1))
    base = ["--runs-root", str(tmp_path / "runs"), "poll", "--once", "--move", "--db", sqlite_url,
            "--endpoint-url", s3_endpoint]
    plain = invoke(*base, f"s3://{bucket}/incoming/")
    assert plain.exit_code == 1, plain.output
    assert len(plain.stdout.splitlines()) == len(PII_KEYS)
    assert "<email>" in plain.stdout and "<ssn>" in plain.stdout and "<phone>" in plain.stdout

    for index, key in enumerate(PII_KEYS):  # new uploads, processed again for the --json check
        put(client, bucket, key, workbook(tmp_path, 40 + index))
    as_json = invoke(*base, "--json", f"s3://{bucket}/incoming/")
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(records) == len(PII_KEYS)
    for out in (plain.stdout, plain.stderr, as_json.stdout, as_json.stderr):
        assert [c for c in KEY_CANARIES if c in out.lower()] == []
    for record in records:
        assert record["uri"].startswith(f"s3://{bucket}/incoming/")
        moved = record["moved_to"]
        assert moved and client.head_object(Bucket=bucket, Key=moved.split(f"s3://{bucket}/", 1)[1])


def test_a_prefix_holding_pii_is_scrubbed_in_the_pass_summary(s3_bucket, s3_endpoint, sqlite_url, tmp_path):
    _, bucket = s3_bucket
    result = invoke("--runs-root", str(tmp_path / "runs"), "poll", "--once", "--db", sqlite_url,
                    "--endpoint-url", s3_endpoint, f"s3://{bucket}/from 078-05-1120/")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"pass over s3://{bucket}/from <ssn>/: nothing new\n"


def test_a_file_that_kills_its_reader_is_recorded_crashed_and_the_next_file_is_processed(
        s3_bucket, sqlite_url, tmp_path, monkeypatch):
    """A reader aborting in native code (as calamine did on a cell at XFD1048576) kills only the
    child process reading that file: the poller records it crashed and goes on."""
    import resource

    from ops_pipeline.readers import workbook as workbook_module

    real_row_reader = workbook_module.CalamineWorkbook.row_reader

    def row_reader(self, sheet):
        if "a-aborts" in self.display_name:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            os.kill(os.getpid(), signal.SIGABRT)
        return real_row_reader(self, sheet)

    monkeypatch.setattr(workbook_module.CalamineWorkbook, "row_reader", row_reader)
    client, bucket = s3_bucket
    uri = f"s3://{bucket}/incoming/"
    put(client, bucket, "incoming/a-aborts.xlsx", workbook(tmp_path, 8))
    put(client, bucket, "incoming/b-good.xlsx", workbook(tmp_path, 9))
    first = poll_pass(uri, options(tmp_path, sqlite_url, reader="calamine"), client=client)
    assert outcomes(first) == [("a-aborts.xlsx", "crashed"), ("b-good.xlsx", "succeeded")]
    assert first.results[0].error["code"] == "reader-crashed"
    assert first.results[0].error["message"].startswith(
        "validate: a-aborts.xlsx: the calamine reader crashed reading this file (killed by SIGABRT)")
    assert RunDir(Path(first.results[0].run_dir)).status("validate") == "failed"
    assert sorted(row.outcome for row in ledger_rows(sqlite_url)) == ["crashed", "succeeded"]
    again = poll_pass(uri, options(tmp_path, sqlite_url, reader="calamine"), client=client)
    assert again.results == [] and again.skipped == 2
