"""fetch from object storage, against a real S3-protocol server (moto.server in a subprocess)."""
from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.errors import LimitExceeded, StorageError, UsageError
from ops_pipeline.ledger import SUCCEEDED, Ledger, version_key
from ops_pipeline.rundir import FAILED, SUCCEEDED as STAGE_SUCCEEDED, RunDir, find_runs
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.stages.fetch import fetch, source_file
from ops_pipeline.sources.s3 import head
from ops_pipeline.stages.fetch_s3 import fetch_next, fetch_s3
from tests.s3_server import *  # noqa: F401,F403  (fixtures)
from tests.s3_server import closed_port_url

LONG_SECRET = "FAKEsecretKEY/fetch-s3-canary+0123456789abcdef"


def workbook_bytes(tmp_path: Path, seed: int) -> bytes:
    return write_sample_workbook(tmp_path / f"wb{seed}.xlsx", rows=20, seed=seed, dirty=False).read_bytes()


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def count_gets(client) -> list:
    seen: list = []
    client.meta.events.register("before-send.s3.GetObject", lambda request, **_: seen.append(request.url))
    return seen


def test_fetch_one_object_records_its_metadata(s3_bucket, s3_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LONG_SECRET)  # moto accepts any secret
    client, bucket = s3_bucket
    body = workbook_bytes(tmp_path, 1)
    client.put_object(Bucket=bucket, Key="fy25/budget.xlsx", Body=body, ChecksumAlgorithm="SHA256")

    run = fetch(f"s3://{bucket}/fy25/budget.xlsx", tmp_path / "runs", endpoint_url=s3_endpoint)

    source = run.manifest["source"]
    head = client.head_object(Bucket=bucket, Key="fy25/budget.xlsx")
    assert source == {
        "uri": f"s3://{bucket}/fy25/budget.xlsx", "bucket": bucket, "key": "fy25/budget.xlsx",
        "version_id": None, "etag": head["ETag"].strip('"'), "size": len(body),
        "last_modified": head["LastModified"].isoformat(), "name": "budget.xlsx",
        "sha256": hashlib.sha256(body).hexdigest(), "checksum_verified": "sha256",
    }
    copy = source_file(run)
    assert copy == run.path / "fetch" / "budget.xlsx" and copy.read_bytes() == body
    assert stat.S_IMODE(copy.stat().st_mode) == 0o400
    assert run.status("fetch") == STAGE_SUCCEEDED
    assert run.stage_info("fetch")["outputs"] == [{"path": "fetch/budget.xlsx", "sha256": source["sha256"]}]
    everything = "".join(p.read_text(errors="replace") for p in run.path.rglob("*") if p.is_file()
                         and p.suffix in (".json", ".jsonl"))
    assert LONG_SECRET not in everything and "testing" not in json.dumps(source)


def test_checksum_falls_back_to_the_md5_etag(s3_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_bucket
    body = workbook_bytes(tmp_path, 2)
    client.put_object(Bucket=bucket, Key="plain.xlsx", Body=body)
    run = fetch_s3(f"s3://{bucket}/plain.xlsx", tmp_path / "runs", endpoint_url=s3_endpoint)
    assert run.manifest["source"]["checksum_verified"] == "md5-etag"
    assert run.manifest["source"]["etag"] == hashlib.md5(body).hexdigest()


def test_a_version_is_recorded_and_fetched_exactly(s3_versioned_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_versioned_bucket
    first = client.put_object(Bucket=bucket, Key="k.xlsx", Body=b"version one")["VersionId"]
    client.put_object(Bucket=bucket, Key="k.xlsx", Body=b"version two")
    run = fetch_s3(f"s3://{bucket}/k.xlsx", tmp_path / "runs", endpoint_url=s3_endpoint)
    assert source_file(run).read_bytes() == b"version two"
    assert run.manifest["source"]["version_id"] not in (None, first)


def test_an_evil_key_stays_inside_the_run_directory(s3_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="../../evil.xlsx", Body=b"evil")
    runs = tmp_path / "a" / "runs"
    run = fetch_s3(f"s3://{bucket}/../../evil.xlsx", runs, endpoint_url=s3_endpoint)
    assert source_file(run) == run.path / "fetch" / "evil.xlsx"
    assert run.manifest["source"]["key"] == "../../evil.xlsx" and run.manifest["source"]["name"] == "evil.xlsx"
    assert [f for f in files_under(tmp_path) if "evil" in f] == [f"a/runs/{run.run_id}/fetch/evil.xlsx"]


def test_an_oversized_object_is_refused_before_download(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="huge.xlsx", Body=b"z" * 5000)
    gets = count_gets(client)
    with pytest.raises(LimitExceeded) as caught:
        fetch_s3(f"s3://{bucket}/huge.xlsx", tmp_path / "runs", max_bytes=4096, client=client)
    assert caught.value.one_line() == (
        "fetch: huge.xlsx is 5,000 bytes, over the 4,096-byte limit; refused before download "
        "(hint: raise it with --max-bytes or OPS_PIPELINE_MAX_BYTES)")
    assert gets == []
    run = RunDir(tmp_path / "runs" / caught.value.run_id)  # the refusal is on record
    assert run.status("fetch") == FAILED
    assert run.stage_info("fetch")["error"]["code"] == "limit-exceeded"
    assert files_under(run.path / "fetch") == []


def test_a_prefix_is_not_an_object(aws_env, tmp_path):
    with pytest.raises(UsageError) as caught:
        fetch_s3("s3://budget-uploads/incoming/", tmp_path / "runs")
    assert str(caught.value) == "s3://budget-uploads/incoming/ is a prefix, not an object"
    assert "--next" in caught.value.hint


def test_unreachable_endpoint_creates_no_run(aws_env, tmp_path, monkeypatch):
    monkeypatch.setenv("OPS_PIPELINE_S3_ATTEMPTS", "1")
    url = closed_port_url()
    with pytest.raises(StorageError) as caught:
        fetch_s3("s3://budget-uploads/k.xlsx", tmp_path / "runs", endpoint_url=url)
    assert str(caught.value) == f"cannot reach the object store at {url.split('://')[1]}"
    assert not (tmp_path / "runs").exists()


def test_fetch_next_takes_the_oldest_not_yet_processed(s3_bucket, s3_endpoint, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="incoming/a.xlsx", Body=b"first")
    client.put_object(Bucket=bucket, Key="incoming/b.xlsx", Body=b"second")
    client.put_object(Bucket=bucket, Key="incomingx/c.xlsx", Body=b"not under the prefix")
    runs = tmp_path / "runs"
    first = fetch_next(f"s3://{bucket}/incoming", runs, db_url=sqlite_url, endpoint_url=s3_endpoint)
    assert first.manifest["source"]["key"] == "incoming/a.xlsx"
    # fetching alone does not mark it processed: --next offers it again
    again = fetch_next(f"s3://{bucket}/incoming/", runs, db_url=sqlite_url, endpoint_url=s3_endpoint)
    assert again.manifest["source"]["key"] == "incoming/a.xlsx"
    with Ledger(sqlite_url) as ledger:
        for key in ("incoming/a.xlsx", "incoming/b.xlsx"):
            info = client.head_object(Bucket=bucket, Key=key)
            vkey = version_key(None, info["ETag"].strip('"'))
            entry = ledger.claim(f"s3://{bucket}/{key}", vkey, version_id=None, etag=None, size=1, seen=None)
            ledger.finish(entry, SUCCEEDED, run_id="r")
            if key == "incoming/a.xlsx":
                nxt = fetch_next(f"s3://{bucket}/incoming/", runs, db_url=sqlite_url, endpoint_url=s3_endpoint)
                assert nxt.manifest["source"]["key"] == "incoming/b.xlsx"
    assert fetch_next(f"s3://{bucket}/incoming/", runs, db_url=sqlite_url, endpoint_url=s3_endpoint) is None


def test_an_object_key_holding_an_email_address_does_not_name_the_copy_or_reach_the_files(
        s3_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_bucket
    key = "incoming/from jane.doe@agency.gov 555-867-5309.xlsx"
    client.put_object(Bucket=bucket, Key=key, Body=workbook_bytes(tmp_path, seed=5))
    # as the poller fetches a listed key (a typed URI may not hold '@')
    info = head(client, bucket, key)
    run = fetch_s3(info.uri, tmp_path / "runs", client=client, info=info)
    copy = source_file(run)
    assert copy.suffix == ".xlsx" and copy.parent == run.path / "fetch"
    for text in [copy.name] + [p.read_text() for p in run.path.rglob("*.json")]:
        assert "jane.doe" not in text and "867-5309" not in text


# -- the command line --------------------------------------------------------------------------


def invoke(*args, env=None):
    return CliRunner().invoke(cli, ["-q", *args], env=env, catch_exceptions=False)


def test_cli_fetch_prints_the_run_directory_only(s3_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="in/budget.xlsx", Body=b"bytes")
    result = invoke("--runs-root", str(tmp_path / "runs"), "fetch", f"s3://{bucket}/in/budget.xlsx",
                    "--endpoint-url", s3_endpoint)
    assert result.exit_code == 0, result.stderr
    [run_dir] = find_runs(tmp_path / "runs")
    assert result.stdout == f"{run_dir.resolve()}\n"


def test_cli_endpoint_from_the_environment(s3_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="budget.xlsx", Body=b"bytes")
    result = invoke("--runs-root", str(tmp_path / "runs"), "fetch", f"s3://{bucket}/budget.xlsx",
                    env={"OPS_PIPELINE_S3_ENDPOINT_URL": s3_endpoint})
    assert result.exit_code == 0, result.stderr
    assert len(find_runs(tmp_path / "runs")) == 1


def test_cli_run_takes_an_object_from_the_endpoint_given(s3_bucket, s3_endpoint, sqlite_url, tmp_path):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="in/budget.xlsx", Body=workbook_bytes(tmp_path, seed=4))
    result = invoke("--runs-root", str(tmp_path / "runs"), "run", f"s3://{bucket}/in/budget.xlsx",
                    "--endpoint-url", s3_endpoint, "--db", sqlite_url, "--accept-rejects", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "succeeded" and report["rows"]["valid"] > 0


def test_cli_fetch_next_with_nothing_new_exits_cleanly(s3_bucket, s3_endpoint, sqlite_url, tmp_path):
    _, bucket = s3_bucket
    result = invoke("--runs-root", str(tmp_path / "runs"), "fetch", f"s3://{bucket}/incoming/", "--next",
                    "--db", sqlite_url, "--endpoint-url", s3_endpoint)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == f"nothing new under s3://{bucket}/incoming/\n"
    assert find_runs(tmp_path / "runs") == []


def test_cli_fetch_next_needs_a_database(s3_bucket, s3_endpoint, tmp_path, monkeypatch):
    monkeypatch.delenv("OPS_PIPELINE_DB_URL", raising=False)
    _, bucket = s3_bucket
    result = invoke("fetch", f"s3://{bucket}/incoming/", "--next", "--endpoint-url", s3_endpoint)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no database given")


def test_cli_unreachable_endpoint_is_one_line_exit_3(aws_env, tmp_path):
    url = closed_port_url()
    result = invoke("--runs-root", str(tmp_path / "runs"), "fetch", "s3://budget-uploads/k.xlsx",
                    "--endpoint-url", url, env={"OPS_PIPELINE_S3_ATTEMPTS": "1"})
    assert (result.exit_code, result.stdout) == (3, "")
    host = url.split("://")[1]
    assert result.stderr == (f"error: s3://budget-uploads/k.xlsx: cannot reach the object store at {host} "
                             "(hint: check the endpoint and the network, then retry)\n")


def test_cli_oversized_object_exit_1(s3_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="big.xlsx", Body=b"b" * 2000)
    result = invoke("--runs-root", str(tmp_path / "runs"), "fetch", f"s3://{bucket}/big.xlsx",
                    "--endpoint-url", s3_endpoint, "--max-bytes", "1000")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ("error: fetch: big.xlsx is 2,000 bytes, over the 1,000-byte limit; refused before "
                             "download (hint: raise it with --max-bytes or OPS_PIPELINE_MAX_BYTES)\n")


def test_sha256_checksum_in_manifest_matches_the_store(s3_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_bucket
    body = b"checksummed"
    client.put_object(Bucket=bucket, Key="c.xlsx", Body=body, ChecksumAlgorithm="SHA256")
    stored = client.head_object(Bucket=bucket, Key="c.xlsx", ChecksumMode="ENABLED")["ChecksumSHA256"]
    run = fetch_s3(f"s3://{bucket}/c.xlsx", tmp_path / "runs", endpoint_url=s3_endpoint)
    assert base64.b64decode(stored).hex() == run.manifest["source"]["sha256"]


def test_a_maps_export_from_object_storage_is_recognised_from_its_header(s3_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_bucket
    body = (Path(__file__).parent / "data" / "maps" / "small" / "projects.tsv").read_bytes()
    client.put_object(Bucket=bucket, Key="maps/export-7.tsv", Body=body)
    client.put_object(Bucket=bucket, Key="fy25/budget.xlsx", Body=workbook_bytes(tmp_path, 2))
    run = fetch(f"s3://{bucket}/maps/export-7.tsv", tmp_path / "runs", endpoint_url=s3_endpoint)
    assert run.dataset == "maps-projects"  # known only once the object is here
    assert RunDir(run.path).dataset == "maps-projects"  # and saved so
    workbook = fetch(f"s3://{bucket}/fy25/budget.xlsx", tmp_path / "runs", endpoint_url=s3_endpoint)
    assert workbook.dataset == "budget-workbook"
