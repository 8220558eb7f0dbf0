"""--archive, report from the archive, the poller's heartbeat and status: against the test S3
server (moto.server); nothing is mocked in-process."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops_pipeline.archive import Archive, archive_run
from ops_pipeline.cli import cli
from ops_pipeline.heartbeat import Heartbeat, health
from ops_pipeline.poll import PollOptions, StopRequest, poll_pass
from ops_pipeline.rundir import RunDir, find_runs, read_jsonl
from ops_pipeline.sample import write_sample_workbook
from tests.s3_server import *  # noqa: F401,F403  (fixtures)

RECORD = {"manifest.json", "report/report.json", "report/report.md", "report/report.html", "report/report.txt",
          "logs/events.jsonl",
          "validate/summary.json", "transform/summary.json", "load/result.json", "rejects/rejected-rows.csv"}


@pytest.fixture
def endpoint_env(s3_endpoint, aws_env, monkeypatch):
    monkeypatch.setenv("OPS_PIPELINE_S3_ENDPOINT_URL", s3_endpoint)
    for name in ("OPS_PIPELINE_ARCHIVE", "OPS_PIPELINE_ARCHIVE_DATA", "OPS_PIPELINE_ARCHIVE_SSE",
                 "OPS_PIPELINE_ARCHIVE_KMS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    return s3_endpoint


def archived(client, bucket: str, prefix: str) -> dict[str, dict]:
    """``{path under prefix: head_object}`` of every archived object."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents") or ():
            found[item["Key"][len(prefix):]] = client.head_object(Bucket=bucket, Key=item["Key"])
    return found


def run_cli(tmp_path, *args):
    return CliRunner().invoke(cli, ["-q", "--runs-root", str(tmp_path / "runs"), *args])


def dirty_run(tmp_path, sqlite_url, bucket, *extra):
    book = write_sample_workbook(tmp_path / "budget.xlsx", rows=80, seed=3, dirty=True)
    result = run_cli(tmp_path, "run", str(book), "--db", sqlite_url, "--accept-rejects", "--format", "json",
                     "--archive", f"s3://{bucket}/audit/", *extra)
    (path,) = find_runs(tmp_path / "runs")
    return result, RunDir(path)


def test_run_archives_the_record_encrypted_and_never_the_staged_data(s3_bucket, sqlite_url, tmp_path, endpoint_env):
    client, bucket = s3_bucket
    result, run = dirty_run(tmp_path, sqlite_url, bucket)
    assert result.exit_code == 0, result.output
    base = f"audit/runs/{run.run_id}/"
    objects = archived(client, bucket, base)
    assert set(objects) == RECORD
    assert {head["ServerSideEncryption"] for head in objects.values()} == {"AES256"}
    assert f"archived run {run.run_id} to s3://{bucket}/{base}\n" in result.stderr

    # The rejected rows: row numbers and codes as in the report, none of the cells' values.
    body = client.get_object(Bucket=bucket, Key=base + "rejects/rejected-rows.csv")["Body"].read().decode()
    rejected = list(read_jsonl(run.path / "validate" / "rejected.jsonl"))
    assert rejected and body.splitlines()[0] == "Row,Findings"
    assert body.splitlines()[1].split(",", 1)[0] == str(rejected[0]["row"])
    values = {str(v) for record in rejected for v in (record.get("values") or {}).values() if v and len(str(v)) > 3}
    assert values and not [v for v in values if v in body]
    # The archived report is the local one.
    local = (run.path / "report" / "report.json").read_bytes()
    assert client.get_object(Bucket=bucket, Key=base + "report/report.json")["Body"].read() == local


def test_archive_data_adds_the_staged_data_and_the_rejects_with_values(s3_bucket, sqlite_url, tmp_path, endpoint_env):
    client, bucket = s3_bucket
    result, run = dirty_run(tmp_path, sqlite_url, bucket, "--archive-data")
    assert result.exit_code == 0, result.output
    objects = archived(client, bucket, f"audit/runs/{run.run_id}/")
    extra = set(objects) - RECORD
    assert {"validate/valid_rows.jsonl", "validate/rejected.jsonl", "rejects/rejects.csv"} <= extra
    assert sorted(name for name in extra if name.startswith("transform/")) == \
        [run.relpath(p) for p in sorted((run.path / "transform").glob("*.jsonl"))] != []
    assert [name for name in extra if name.startswith("fetch/")] == [run.relpath(p) for p in
                                                                     sorted((run.path / "fetch").iterdir())]
    assert {head["ServerSideEncryption"] for head in objects.values()} == {"AES256"}


def test_archive_data_without_an_archive_is_a_usage_error(tmp_path, sqlite_url):
    result = run_cli(tmp_path, "run", str(tmp_path / "x.xlsx"), "--db", sqlite_url, "--archive-data")
    assert result.exit_code == 2
    assert result.stderr == "error: --archive-data needs --archive S3_PREFIX\n"


def test_an_unknown_encryption_setting_is_refused(tmp_path, sqlite_url, monkeypatch):
    monkeypatch.setenv("OPS_PIPELINE_ARCHIVE_SSE", "none")
    result = run_cli(tmp_path, "run", str(tmp_path / "x.xlsx"), "--db", sqlite_url, "--archive", "s3://bucket-a/p/")
    assert result.exit_code == 2
    assert result.stderr == "error: OPS_PIPELINE_ARCHIVE_SSE must be AES256 or aws:kms, not 'none'\n"


def test_known_secrets_are_masked_in_the_archive(s3_bucket, sqlite_url, tmp_path, endpoint_env, monkeypatch):
    client, bucket = s3_bucket
    result, run = dirty_run(tmp_path, sqlite_url, bucket)
    secret = "Sup3rSecretPassw0rd"
    with open(run.path / "logs" / "events.jsonl", "a") as handle:  # as if a library had quoted it
        handle.write(json.dumps({"stage": "load", "event": "x", "detail": f"password={secret}"}) + "\n")
    monkeypatch.setenv("OPS_PIPELINE_DB_URL", f"postgresql+psycopg://ops:{secret}@db.internal/ops")
    archive_run(run, Archive.from_uri(f"s3://{bucket}/again/"))
    body = client.get_object(Bucket=bucket, Key=f"again/runs/{run.run_id}/logs/events.jsonl")["Body"].read()
    assert secret.encode() not in body and b"password=***" in body


def test_report_reads_an_archived_run_whose_directory_is_gone(s3_bucket, sqlite_url, tmp_path, endpoint_env):
    client, bucket = s3_bucket
    result, run = dirty_run(tmp_path, sqlite_url, bucket)
    local = json.loads((run.path / "report" / "report.json").read_text())
    shutil.rmtree(tmp_path / "runs")  # the app restarted: the disk is new

    gone = run_cli(tmp_path, "report", run.run_id)
    assert gone.exit_code == 2 and "is not a run directory" in gone.stderr
    again = run_cli(tmp_path, "report", run.run_id, "--archive", f"s3://{bucket}/audit/", "--format", "json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == local
    text = run_cli(tmp_path, "report", run.run_id, "--archive", f"s3://{bucket}/audit/")
    assert text.exit_code == 0 and f"Run {run.run_id}  status: SUCCEEDED" in text.stdout


@pytest.mark.parametrize("value, message", [
    ("20991231T000000Z-abcdef", "error: run 20991231T000000Z-abcdef is neither a run directory here nor archived "
                                "in s3://{bucket}/audit/ (hint: check the run id and --archive)\n"),
    ("../../heartbeat/x", "error: not a run id: '../../heartbeat/x' "
                          "(hint: a run id looks like 20261126T202410Z-3f9c1a)\n"),
])
def test_report_of_a_run_in_neither_place_says_so(s3_bucket, tmp_path, endpoint_env, value, message):
    _client, bucket = s3_bucket
    result = run_cli(tmp_path, "report", value, "--archive", f"s3://{bucket}/audit/")
    assert result.exit_code == 2
    assert result.stderr == message.format(bucket=bucket)


# -- poll, heartbeat, status ---------------------------------------------------------------------


def put_books(client, bucket, tmp_path, *names):
    for seed, name in enumerate(names, start=1):
        book = write_sample_workbook(tmp_path / f"in-{seed}.xlsx", rows=40, seed=seed, dirty=False)
        client.put_object(Bucket=bucket, Key=f"incoming/{name}", Body=book.read_bytes())


def test_poll_archives_each_run_and_status_reads_the_heartbeat_after_a_restart(
        s3_bucket, sqlite_url, tmp_path, endpoint_env):
    client, bucket = s3_bucket
    put_books(client, bucket, tmp_path, "a.xlsx", "b.xlsx")
    archive = f"s3://{bucket}/audit/"
    result = run_cli(tmp_path, "poll", f"s3://{bucket}/incoming/", "--db", sqlite_url, "--once", "--json",
                     "--archive", archive)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["outcome"] for line in lines] == ["succeeded", "succeeded"]
    for line in lines:
        assert line["archive_uri"] == f"s3://{bucket}/audit/runs/{line['run_id']}/"
        assert set(archived(client, bucket, f"audit/runs/{line['run_id']}/")) == RECORD
    (beat_key,) = archived(client, bucket, "audit/heartbeat/")
    beat = json.loads(client.get_object(Bucket=bucket, Key="audit/heartbeat/" + beat_key)["Body"].read())
    assert beat["source"] == f"s3://{bucket}/incoming/"
    assert beat["last_pass"]["processed"] == 2 and beat["last_pass"]["failed"] == 0
    assert beat["oldest_waiting_age_seconds"] is None and beat["interval_seconds"] is None

    shutil.rmtree(tmp_path / "runs")  # restart: only the archive remains
    status = run_cli(tmp_path, "status", "--archive", archive, "--json")
    assert status.exit_code == 0, status.output
    (shown,) = json.loads(status.stdout)["pollers"]
    assert shown["state"] == "ok" and shown["read_from"].startswith(f"s3://{bucket}/audit/heartbeat/")
    # The ledger in the database remembers: a second poller on a fresh disk processes nothing again.
    again = run_cli(tmp_path, "poll", f"s3://{bucket}/incoming/", "--db", sqlite_url, "--once", "--json",
                    "--archive", archive)
    assert again.exit_code == 0 and again.stdout == ""


def test_a_run_that_cannot_be_archived_fails_the_pass_but_stays_recorded(s3_bucket, sqlite_url, tmp_path,
                                                                         endpoint_env):
    client, bucket = s3_bucket
    put_books(client, bucket, tmp_path, "a.xlsx")
    result = run_cli(tmp_path, "poll", f"s3://{bucket}/incoming/", "--db", sqlite_url, "--once",
                     "--archive", "s3://no-such-archive-bucket/audit/")
    assert result.exit_code == 3
    (archive_line,) = [line for line in result.stderr.splitlines() if line.startswith("archive: ")]
    assert archive_line.startswith("archive: s3://no-such-archive-bucket/audit/runs/")
    assert archive_line.endswith(": s3://no-such-archive-bucket: no such bucket")
    assert "heartbeat: s3://no-such-archive-bucket/audit/heartbeat/" in result.stderr
    assert result.stdout.startswith("succeeded ")


def beat_file(tmp_path, *, minutes_ago: float, interval: float | None) -> None:
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)
    document = {"source": "s3://bucket-a/incoming/", "last_pass_at": when.isoformat(timespec="seconds"),
                "interval_seconds": interval, "oldest_waiting_age_seconds": 42.0,
                "last_pass": {"processed": 3, "failed": 1, "error": None}}
    (tmp_path / "runs").mkdir(exist_ok=True)
    (tmp_path / "runs" / "heartbeat-x.json").write_text(json.dumps(document))


@pytest.mark.parametrize("minutes_ago, interval, max_age, code, state", [
    (9, 300, None, 0, "ok"),          # within twice the interval
    (11, 300, None, 3, "stale"),      # more than twice 5 minutes: stuck
    (11, 300, "15m", 0, "ok"),
    (600, None, None, 0, "ok"),       # a single pass (--once) has no interval to be late for
    (600, None, "1h", 3, "stale"),
])
def test_status_exits_3_when_the_last_pass_is_older_than_twice_the_interval(tmp_path, minutes_ago, interval,
                                                                            max_age, code, state):
    beat_file(tmp_path, minutes_ago=minutes_ago, interval=interval)
    result = run_cli(tmp_path, "status", *(["--max-age", max_age] if max_age else []))
    assert result.exit_code == code, result.output
    every = "single pass" if interval is None else "every 300s"
    assert result.stdout.startswith(f"{state:<5} s3://bucket-a/incoming/: last pass ")
    assert result.stdout.endswith(f"s ago, {every}); 3 processed, 1 failed; oldest waiting 42s\n")


def test_status_without_any_heartbeat_exits_3(tmp_path):
    result = run_cli(tmp_path, "status")
    assert result.exit_code == 3
    assert result.stderr == "no poller heartbeat found\n"


def test_the_heartbeat_counts_the_oldest_object_left_waiting(s3_bucket, sqlite_url, tmp_path, endpoint_env):
    client, bucket = s3_bucket
    put_books(client, bucket, tmp_path, "a.xlsx", "b.xlsx")
    stop = StopRequest()
    stop.set("test")  # the pass reaches nothing: both objects wait
    options = PollOptions(runs_root=tmp_path / "runs", db_url=sqlite_url)
    result = poll_pass(f"s3://{bucket}/incoming/", options, stop=stop, client=client)
    assert len(result.waiting) == 2
    later = dt.datetime.fromisoformat(min(result.waiting)) + dt.timedelta(minutes=7)
    beat = Heartbeat(result.source, tmp_path / "runs", interval=60).document(result, now=later)
    assert beat["oldest_waiting_age_seconds"] == 420.0 and beat["waiting"] == 2
    assert health(beat, now=later + dt.timedelta(seconds=121))["state"] == "stale"
    assert health(beat, now=later + dt.timedelta(seconds=119))["state"] == "ok"

    done = poll_pass(f"s3://{bucket}/incoming/", options, client=client)
    assert [r.outcome for r in done.results] == ["succeeded", "succeeded"] and done.waiting == []


def test_run_exits_3_when_its_run_cannot_be_archived_but_still_shows_the_report(s3_bucket, sqlite_url, tmp_path,
                                                                                 endpoint_env):
    book = write_sample_workbook(tmp_path / "clean.xlsx", rows=30, seed=4, dirty=False)
    result = run_cli(tmp_path, "run", str(book), "--db", sqlite_url, "--format", "json",
                     "--archive", "s3://no-such-archive-bucket/audit/")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert result.stderr.startswith("archive: s3://no-such-archive-bucket/audit/runs/")
    assert result.stderr.endswith(": s3://no-such-archive-bucket: no such bucket\n")


def test_kms_encryption_is_used_when_configured(s3_bucket, sqlite_url, tmp_path, endpoint_env, monkeypatch):
    client, bucket = s3_bucket
    monkeypatch.setenv("OPS_PIPELINE_ARCHIVE_SSE", "aws:kms")
    result, run = dirty_run(tmp_path, sqlite_url, bucket)
    assert result.exit_code == 0, result.output
    objects = archived(client, bucket, f"audit/runs/{run.run_id}/")
    assert set(objects) == RECORD
    assert {head["ServerSideEncryption"] for head in objects.values()} == {"aws:kms"}
