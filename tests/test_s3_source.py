"""ops_pipeline.sources.s3 against a real S3-protocol server (moto.server in a subprocess)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import stat
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from ops_pipeline.errors import LimitExceeded, PipelineError, StorageError, UsageError
from ops_pipeline.sources.s3 import (
    ObjectInfo,
    download,
    head,
    list_objects,
    make_client,
    parse_s3_uri,
    s3_settings,
    safe_filename,
)
from tests.s3_server import *  # noqa: F401,F403  (fixtures)
from tests.s3_server import closed_port_url

MB = 1024 * 1024
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
FAKE_SECRET = "FAKEsecretKEY/do-not-leak+0123456789abcdefXYZ"
FAKE_TOKEN = "FAKEsessionTOKEN-do-not-leak-9876543210"


def put(client, bucket, key, body: bytes, *, sha256=True):
    extra = {"ChecksumAlgorithm": "SHA256"} if sha256 else {}
    return client.put_object(Bucket=bucket, Key=key, Body=body, **extra)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def error_texts(error: BaseException) -> str:
    """Everything an operator or a log could see of an error and its chain."""
    parts = []
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 20:
        parts += [str(current), repr(current), repr(getattr(current, "args", ()))]
        if isinstance(current, PipelineError):
            parts += [current.one_line(), json.dumps(current.as_dict())]
        current = current.__cause__ or current.__context__
        seen += 1
    return "\n".join(parts)


def count_requests(client, operation: str) -> list:
    """Record every HTTP request the client sends for one operation (observation, no mocking)."""
    sent: list = []
    client.meta.events.register(
        f"before-send.s3.{operation}", lambda request, **_: sent.append(request.url)
    )
    return sent


# ------------------------------------------------------------------ parse_s3_uri


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("s3://budget-uploads/fy2025/budget.xlsx", ("budget-uploads", "fy2025/budget.xlsx")),
        ("s3://budget-uploads/fy2025/", ("budget-uploads", "fy2025/")),
        ("s3://budget-uploads", ("budget-uploads", "")),
        ("s3://budget-uploads/", ("budget-uploads", "")),
        ("S3://my.bucket-1/a b/c?.xlsx", ("my.bucket-1", "a b/c?.xlsx")),
    ],
)
def test_parse_s3_uri(uri, expected):
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    ["", "budget/x.xlsx", "https://bucket/x", "s3:/bucket/x", "s3://", "s3:///key",
     "s3://ab/x", "s3://Bad_Bucket!/x", "s3://a..b/x", "s3://bucket/" + "k" * 1100],
)
def test_parse_s3_uri_rejects(uri):
    with pytest.raises(UsageError):
        parse_s3_uri(uri)


def test_parse_s3_uri_does_not_echo_credentials():
    with pytest.raises(UsageError) as caught:
        parse_s3_uri(f"s3://AKIAEXAMPLE:{FAKE_SECRET}@bucket/x.xlsx")
    assert FAKE_SECRET not in error_texts(caught.value)


# ------------------------------------------------------------------ safe_filename


@pytest.mark.parametrize(
    "key, expected",
    [
        ("fy2025/budget.xlsx", "budget.xlsx"),
        ("../../x", "x"),
        ("../../evil.xlsx", "evil.xlsx"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("", "object"),
        ("a/b/", "object"),
        ("..", "object"),
        (".", "object"),
        ("...", "object"),
        (".hidden.xlsx", "hidden.xlsx"),
        ("bud\x00get\x00.xlsx", "budget.xlsx"),
        ("line\nbreak\r\t.xlsx", "linebreak.xlsx"),
        ("Bü dget (final) ✓.xlsx", "B__dget__final___.xlsx"),
        ("\u202egnp.xlsx", "gnp.xlsx"),
        ("dir/..\x00", "object"),
        ("$(rm -rf ~);.xlsx", "__rm_-rf____.xlsx"),
    ],
)
def test_safe_filename(key, expected):
    assert safe_filename(key) == expected


def test_safe_filename_caps_length_keeping_extension():
    name = safe_filename("d/" + "a" * 5000 + ".xlsx")
    assert len(name) == 100
    assert name == "a" * 95 + ".xlsx"
    # an absurd "extension" is not kept whole
    name = safe_filename("x." + "e" * 5000)
    assert len(name) == 100 and name.startswith("x.e")


@pytest.mark.parametrize(
    "key",
    ["../../x", "/etc/passwd", "..\\..\\win.ini", "\x00", "é" * 5000, "./.", "a/../..", "CON"],
)
def test_safe_filename_is_one_safe_component(key):
    name = safe_filename(key)
    assert name and name not in (".", "..")
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}", name)


# ------------------------------------------------------------------ settings (no server)

VCAP = {
    "s3": [
        {
            "name": "budget-uploads",
            "credentials": {
                "access_key_id": "AKIAFIRSTSERVICE",
                "secret_access_key": FAKE_SECRET,
                "region": "us-gov-west-1",
                "bucket": "cg-1111",
                "fips_endpoint": "s3-fips.us-gov-west-1.amazonaws.com",
                "endpoint": "s3.us-gov-west-1.amazonaws.com",
                "hostname": "s3-us-gov-west-1.amazonaws.com",
                "uri": f"s3://AKIAFIRSTSERVICE:{FAKE_SECRET}@s3.us-gov-west-1.amazonaws.com/cg-1111",
            },
        },
        {
            "name": "archive",
            "credentials": {
                "access_key_id": "AKIASECONDSERVICE",
                "secret_access_key": "second-secret-value-1234",
                "region": "us-gov-west-1",
                "bucket": "cg-2222",
                "hostname": "s3-us-gov-west-1.amazonaws.com",
            },
        },
    ],
    "aws-rds": [{"name": "db", "credentials": {"uri": "postgres://u:p@h/db"}}],
}


@pytest.fixture
def vcap_env(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("VCAP_SERVICES", json.dumps(VCAP))
    return monkeypatch


def test_settings_from_vcap_first_service(vcap_env):
    settings = s3_settings()
    assert settings["source"] == "vcap"
    assert settings["service"] == "budget-uploads"
    assert settings["aws_access_key_id"] == "AKIAFIRSTSERVICE"
    assert settings["aws_secret_access_key"] == FAKE_SECRET
    assert settings["region_name"] == "us-gov-west-1"
    assert settings["bucket"] == "cg-1111"
    assert settings["endpoint_url"] == "https://s3-fips.us-gov-west-1.amazonaws.com"
    assert FAKE_SECRET not in repr(settings) and FAKE_SECRET not in str(settings)
    assert "AKIAFIRSTSERVICE" in repr(settings)


def test_settings_named_service_and_hostname_fallback(vcap_env):
    vcap_env.setenv("OPS_PIPELINE_S3_SERVICE", "archive")
    settings = s3_settings()
    assert settings["service"] == "archive"
    assert settings["aws_access_key_id"] == "AKIASECONDSERVICE"
    assert settings["bucket"] == "cg-2222"
    assert settings["endpoint_url"] == "https://s3-us-gov-west-1.amazonaws.com"


def test_settings_unknown_service_name(vcap_env):
    vcap_env.setenv("OPS_PIPELINE_S3_SERVICE", "nope")
    with pytest.raises(UsageError) as caught:
        s3_settings()
    assert "archive" in str(caught.value) and "budget-uploads" in str(caught.value)
    assert FAKE_SECRET not in error_texts(caught.value)


def test_settings_endpoint_precedence(vcap_env):
    vcap_env.setenv("OPS_PIPELINE_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert s3_settings()["endpoint_url"] == "http://127.0.0.1:9000"
    assert s3_settings("http://localhost:1234/")["endpoint_url"] == "http://localhost:1234"
    # VCAP credentials are still used with an overridden endpoint
    assert s3_settings("http://localhost:1234")["aws_access_key_id"] == "AKIAFIRSTSERVICE"
    vcap_env.setenv("VCAP_SERVICES", json.dumps(
        {"s3": [{"name": "x", "credentials": {"access_key_id": "A", "secret_access_key": "B",
                                              "endpoint": "http://minio.local:9000"}}]}))
    vcap_env.delenv("OPS_PIPELINE_S3_ENDPOINT_URL")
    assert s3_settings()["endpoint_url"] == "http://minio.local:9000"


def test_settings_without_vcap_use_default_chain(aws_env, monkeypatch):
    monkeypatch.setenv("VCAP_SERVICES", json.dumps({"aws-rds": []}))
    settings = s3_settings()
    assert settings["source"] == "default"
    assert settings["aws_access_key_id"] is None and settings["endpoint_url"] is None
    client = make_client()
    assert client.meta.endpoint_url == "https://s3.amazonaws.com"
    assert client._request_signer._credentials.access_key == "testing"


def test_settings_bad_vcap_json_hides_content(aws_env, monkeypatch):
    monkeypatch.setenv("VCAP_SERVICES", '{"s3": [{"credentials": {"secret_access_key": "'
                       + FAKE_SECRET + '"}}')  # truncated JSON
    with pytest.raises(UsageError) as caught:
        s3_settings()
    assert "VCAP_SERVICES" in str(caught.value)
    assert FAKE_SECRET not in error_texts(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_make_client_from_vcap(vcap_env):
    client = make_client(connect_timeout=3, read_timeout=7, max_attempts=4)
    assert client.meta.endpoint_url == "https://s3-fips.us-gov-west-1.amazonaws.com"
    assert client.meta.region_name == "us-gov-west-1"
    creds = client._request_signer._credentials
    assert creds.access_key == "AKIAFIRSTSERVICE" and creds.secret_key == FAKE_SECRET
    config = client.meta.config
    assert config.connect_timeout == 3 and config.read_timeout == 7
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert config.signature_version == "s3v4"
    assert FAKE_SECRET not in repr(client)


# ------------------------------------------------------------------ download


def test_download_new_object(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    body = b"PK\x03\x04 pretend workbook " * 1000
    put(client, bucket, "fy2025/budget.xlsx", body)
    info = head(client, bucket, "fy2025/budget.xlsx")
    assert info == ObjectInfo(bucket, "fy2025/budget.xlsx", None,
                              hashlib.md5(body).hexdigest(), len(body), info.last_modified)
    assert ISO_UTC.fullmatch(info.last_modified)
    assert info.uri == f"s3://{bucket}/fy2025/budget.xlsx"

    dest = tmp_path / "source"
    meta = download(client, info, dest, max_bytes=10 * MB)
    final = dest / "budget.xlsx"
    assert meta == {
        "uri": info.uri,
        "bucket": bucket,
        "key": "fy2025/budget.xlsx",
        "version_id": None,
        "etag": hashlib.md5(body).hexdigest(),
        "size": len(body),
        "last_modified": info.last_modified,
        "sha256": hashlib.sha256(body).hexdigest(),
        "checksum_verified": "sha256",
        "path": str(final),
    }
    assert final.read_bytes() == body
    assert stat.S_IMODE(final.stat().st_mode) == 0o400
    assert files_under(dest) == ["budget.xlsx"]  # no temporary file left behind


def test_download_without_sha256_checks_md5_etag(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    put(client, bucket, "plain.csv", b"a,b\n1,2\n", sha256=False)
    meta = download(client, head(client, bucket, "plain.csv"), tmp_path, max_bytes=100)
    assert meta["checksum_verified"] == "md5-etag"
    assert meta["sha256"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


def test_download_multipart_object(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    parts = [b"x" * (5 * MB), b"tail"]
    upload = client.create_multipart_upload(Bucket=bucket, Key="big.xlsx", ChecksumAlgorithm="SHA256")
    done = []
    for number, data in enumerate(parts, 1):
        part = client.upload_part(Bucket=bucket, Key="big.xlsx", UploadId=upload["UploadId"],
                                  PartNumber=number, Body=data, ChecksumAlgorithm="SHA256")
        done.append({"PartNumber": number, "ETag": part["ETag"],
                     "ChecksumSHA256": part["ChecksumSHA256"]})
    client.complete_multipart_upload(Bucket=bucket, Key="big.xlsx", UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": done})
    info = head(client, bucket, "big.xlsx")
    assert info.etag.endswith("-2")
    meta = download(client, info, tmp_path, max_bytes=10 * MB)
    # composite checksum and multipart ETag cannot be compared with a whole-file digest
    assert meta["checksum_verified"] is None
    assert meta["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
    assert meta["size"] == 5 * MB + 4


def test_versioned_object_downloads_each_version(s3_versioned_bucket, tmp_path):
    client, bucket = s3_versioned_bucket
    v1 = put(client, bucket, "budget.xlsx", b"version one")["VersionId"]
    v2 = put(client, bucket, "budget.xlsx", b"version two, longer")["VersionId"]
    assert v1 and v2 and v1 != v2

    latest = head(client, bucket, "budget.xlsx")
    assert latest.version_id == v2 and latest.size == len(b"version two, longer")
    first = head(client, bucket, "budget.xlsx", version_id=v1)
    assert first.version_id == v1 and first.size == len(b"version one")

    m1 = download(client, first, tmp_path / "one", max_bytes=100)
    m2 = download(client, latest, tmp_path / "two", max_bytes=100)
    assert (m1["version_id"], m2["version_id"]) == (v1, v2)
    assert Path(m1["path"]).read_bytes() == b"version one"
    assert Path(m2["path"]).read_bytes() == b"version two, longer"
    assert m1["sha256"] != m2["sha256"]
    assert m1["etag"] == hashlib.md5(b"version one").hexdigest()

    # a listing has no version ids; the download records the version it actually got
    (listed,) = list_objects(client, bucket, "")
    assert listed.version_id is None
    assert download(client, listed, tmp_path / "three", max_bytes=100)["version_id"] == v2


def test_missing_version_is_a_storage_error(s3_versioned_bucket, tmp_path):
    client, bucket = s3_versioned_bucket
    put(client, bucket, "k.xlsx", b"data")
    info = ObjectInfo(bucket, "k.xlsx", "no-such-version", "", 4, "2025-01-01T00:00:00+00:00")
    with pytest.raises(StorageError) as caught:
        download(client, info, tmp_path / "d", max_bytes=100)
    assert str(caught.value) == f"s3://{bucket}/k.xlsx (version no-such-version): no such object version"
    assert files_under(tmp_path) == ["d"]


EVIL_KEYS = {
    "../../evil.xlsx": "evil.xlsx",
    "/abs/x.xlsx": "x.xlsx",
    "..\\..\\x2.xlsx": "x2.xlsx",
    "deep/" + "n" * 895 + ".xlsx": "n" * 95 + ".xlsx",
}


def test_evil_keys_stay_inside_dest_dir(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    for key in EVIL_KEYS:
        put(client, bucket, key, key.encode())
    assert len(next(k for k in EVIL_KEYS if k.startswith("deep/"))) == 905
    stored = {info.key for info in list_objects(client, bucket, "")}
    assert stored == set(EVIL_KEYS)  # the server kept the keys verbatim

    dest = tmp_path / "a" / "b" / "dest"
    for key, expected_name in EVIL_KEYS.items():
        meta = download(client, head(client, bucket, key), dest, max_bytes=10_000)
        assert meta["key"] == key
        assert Path(meta["path"]) == dest / expected_name
        assert Path(meta["path"]).read_bytes() == key.encode()
    assert files_under(tmp_path) == ["a", "a/b", "a/b/dest"] + sorted(
        f"a/b/dest/{name}" for name in EVIL_KEYS.values())


def test_over_limit_refused_before_download(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    put(client, bucket, "huge.xlsx", b"z" * 2048)
    info = head(client, bucket, "huge.xlsx")
    gets = count_requests(client, "GetObject")
    dest = tmp_path / "dest"
    with pytest.raises(LimitExceeded) as caught:
        download(client, info, dest, max_bytes=1000)
    message = str(caught.value)
    assert info.uri in message and "2048" in message and "1000" in message
    assert "--max-bytes" in caught.value.hint and "OPS_PIPELINE_MAX_BYTES" in caught.value.hint
    assert gets == []  # no GET was sent
    assert not dest.exists() and files_under(tmp_path) == []
    # at exactly the limit it is fine, and the GET is observed
    assert download(client, info, dest, max_bytes=2048)["size"] == 2048
    assert len(gets) == 1


def test_more_bytes_than_listed_stops_at_limit(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    put(client, bucket, "grew.xlsx", b"g" * (3 * MB))
    lying = dataclasses.replace(head(client, bucket, "grew.xlsx"), size=10)
    dest = tmp_path / "dest"
    with pytest.raises(LimitExceeded) as caught:
        download(client, lying, dest, max_bytes=MB)
    assert "more than the download limit" in str(caught.value)
    assert files_under(dest) == []


def test_object_changed_since_listing(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    put(client, bucket, "k.xlsx", b"old")
    info = head(client, bucket, "k.xlsx")
    put(client, bucket, "k.xlsx", b"new!")
    with pytest.raises(StorageError) as caught:
        download(client, info, tmp_path, max_bytes=100)
    assert "changed since it was listed" in str(caught.value)
    assert files_under(tmp_path) == []


def test_tampered_body_fails_md5_etag_check(s3_endpoint, aws_env, corrupting_proxy, tmp_path):
    direct = make_client(s3_endpoint)
    bucket = f"tamper-{os.getpid()}-{time.time_ns()}"
    direct.create_bucket(Bucket=bucket)
    body = b"amount\nGENUINE!\n"
    # botocore adds a CRC32 (which it would verify itself) unless told not to: store the object
    # with no flexible checksum at all, so only our MD5-vs-ETag check stands guard
    boto3.session.Session().client(
        "s3", endpoint_url=s3_endpoint,
        config=Config(request_checksum_calculation="when_required"),
    ).put_object(Bucket=bucket, Key="md5only.csv", Body=body)
    info = head(direct, bucket, "md5only.csv")
    plain = direct.get_object(Bucket=bucket, Key="md5only.csv", ChecksumMode="ENABLED")
    assert not [k for k in plain if k.startswith("Checksum")]
    proxy = corrupting_proxy(s3_endpoint, b"GENUINE!", b"TAMPERED")
    via_proxy = make_client(proxy.url, max_attempts=1)
    with pytest.raises(StorageError) as caught:
        download(via_proxy, info, tmp_path / "d", max_bytes=100)
    assert proxy.replacements == 1
    assert str(caught.value) == f"s3://{bucket}/md5only.csv: MD5 of the downloaded bytes does not match the ETag"
    assert files_under(tmp_path / "d") == []
    # the same download without tampering succeeds
    assert Path(download(direct, info, tmp_path / "d", max_bytes=100)["path"]).read_bytes() == body


def test_tampered_body_fails_sha256_check(s3_endpoint, aws_env, corrupting_proxy, tmp_path):
    direct = make_client(s3_endpoint)
    bucket = f"tamper-{os.getpid()}-{time.time_ns()}"
    direct.create_bucket(Bucket=bucket)
    put(direct, bucket, "sha.csv", b"amount\nGENUINE!\n", sha256=True)
    info = head(direct, bucket, "sha.csv")
    proxy = corrupting_proxy(s3_endpoint, b"GENUINE!", b"TAMPERED")
    with pytest.raises(StorageError) as caught:
        download(make_client(proxy.url, max_attempts=1), info, tmp_path, max_bytes=100)
    assert proxy.replacements == 1
    assert "checksum" in str(caught.value)
    assert files_under(tmp_path) == []


# ------------------------------------------------------------------ listing


def test_list_objects_oldest_first(s3_bucket):
    client, bucket = s3_bucket
    # moto reports LastModified with one-second resolution: space the uploads out
    put(client, bucket, "in/b.xlsx", b"1")
    time.sleep(1.05)
    put(client, bucket, "in/a.xlsx", b"22")
    client.put_object(Bucket=bucket, Key="in/sub/", Body=b"")  # "folder" marker
    time.sleep(1.05)
    put(client, bucket, "in/c.xlsx", b"333")
    put(client, bucket, "other/z.xlsx", b"4")
    listed = list_objects(client, bucket, "in/")
    assert [i.key for i in listed] == ["in/b.xlsx", "in/a.xlsx", "in/c.xlsx"]
    assert [i.size for i in listed] == [1, 2, 3]
    assert listed[0].last_modified < listed[1].last_modified < listed[2].last_modified
    assert all(ISO_UTC.fullmatch(i.last_modified) and i.version_id is None for i in listed)
    assert listed[1].etag == hashlib.md5(b"22").hexdigest()
    # HEAD and LIST agree on the timestamp
    assert head(client, bucket, "in/a.xlsx").last_modified == listed[1].last_modified
    assert list_objects(client, bucket, "nothing-here/") == []


def test_list_objects_ties_sorted_by_key(s3_bucket):
    client, bucket = s3_bucket
    for key in ("t/9", "t/1", "t/5"):
        put(client, bucket, key, b"x")
    listed = list_objects(client, bucket, "t/")
    assert [(i.last_modified, i.key) for i in listed] == sorted((i.last_modified, i.key) for i in listed)
    if len({i.last_modified for i in listed}) == 1:
        assert [i.key for i in listed] == ["t/1", "t/5", "t/9"]


# ------------------------------------------------------------------ errors


def test_missing_key(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    with pytest.raises(StorageError) as caught:
        head(client, bucket, "nope.xlsx")
    assert str(caught.value) == f"s3://{bucket}/nope.xlsx: no such object"
    assert caught.value.__cause__ is not None  # the botocore error is kept
    info = ObjectInfo(bucket, "nope.xlsx", None, "", 1, "2025-01-01T00:00:00+00:00")
    with pytest.raises(StorageError) as caught:
        download(client, info, tmp_path, max_bytes=100)
    assert str(caught.value) == f"s3://{bucket}/nope.xlsx: no such object"
    assert files_under(tmp_path) == []


def test_missing_bucket(s3_bucket):
    client, _ = s3_bucket
    with pytest.raises(StorageError) as caught:
        list_objects(client, "no-such-bucket-here", "x/")
    assert str(caught.value) == "s3://no-such-bucket-here: no such bucket"


def test_unreachable_endpoint_fails_fast(aws_env, tmp_path):
    url = closed_port_url()
    client = make_client(url, connect_timeout=1, read_timeout=1, max_attempts=1)
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        head(client, "bucket", "x.xlsx")
    host = url.split("://")[1]
    assert str(caught.value) == f"cannot reach the object store at {host}"
    assert "\n" not in caught.value.one_line()
    with pytest.raises(StorageError) as caught:
        list_objects(client, "bucket", "")
    assert str(caught.value) == f"cannot reach the object store at {host}"
    assert time.monotonic() - started < 5


def test_endpoint_going_away(s3_endpoint_killable, tmp_path):
    server = s3_endpoint_killable
    client = make_client(server.url, connect_timeout=1, read_timeout=2, max_attempts=2)
    client.create_bucket(Bucket="going-away")
    put(client, "going-away", "k.xlsx", b"data")
    info = head(client, "going-away", "k.xlsx")
    server.stop()
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        download(client, info, tmp_path / "d", max_bytes=100)
    assert str(caught.value).startswith(f"cannot reach the object store at 127.0.0.1:{server.port}")
    assert files_under(tmp_path / "d") == []
    assert time.monotonic() - started < 5


def test_no_credentials(aws_env, monkeypatch, s3_endpoint):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    client = make_client(s3_endpoint, max_attempts=1)
    with pytest.raises(StorageError) as caught:
        head(client, "bucket", "x.xlsx")
    assert str(caught.value) == "no S3 credentials (set VCAP_SERVICES or AWS_* variables)"


def test_secrets_never_in_error_text(aws_env, monkeypatch, s3_endpoint, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_TOKEN)
    errors: list[BaseException] = []

    client = make_client(s3_endpoint, max_attempts=1)
    client.create_bucket(Bucket="secret-test")
    for call in (
        lambda: head(client, "secret-test", "missing.xlsx"),
        lambda: list_objects(client, "no-such-bucket-x", ""),
        lambda: download(client, ObjectInfo("secret-test", "m", None, "", 1, ""), tmp_path, max_bytes=9),
        lambda: download(client, ObjectInfo("secret-test", "m", None, "", 99, ""), tmp_path, max_bytes=9),
        lambda: head(make_client(closed_port_url(), connect_timeout=1, max_attempts=1), "b", "k"),
        lambda: parse_s3_uri(f"s3://x:{FAKE_SECRET}@b/k"),
    ):
        with pytest.raises(PipelineError) as caught:
            call()
        errors.append(caught.value)

    # VCAP credentials (including the credentials URI) against a dead endpoint
    monkeypatch.setenv("VCAP_SERVICES", json.dumps(VCAP))
    vcap_client = make_client(closed_port_url(), connect_timeout=1, max_attempts=1)
    with pytest.raises(StorageError) as caught:
        head(vcap_client, "cg-1111", "k")
    errors.append(caught.value)

    assert len(errors) == 7
    for error in errors:
        text = error_texts(error)
        assert FAKE_SECRET not in text and FAKE_TOKEN not in text, text
    assert "no such object" in str(errors[0]) and "cannot reach" in str(errors[-1])


@pytest.mark.parametrize("name, expected", [
    ("budget.xlsx", "budget.xlsx"),
    ("in/from jane.doe@agency.gov.xlsx", "from__email_.xlsx"),  # the extension is not the address's
    ("in/budget 555-867-5309.xlsm", "budget__phone_.xlsm"),
    ("123-45-6789", "_ssn_"),
])
def test_the_copy_of_a_fetched_file_is_named_without_what_looks_like_pii(name, expected):
    from ops_pipeline.sources import copy_name

    assert copy_name(name) == expected
