"""Budget spreadsheets from S3-compatible object storage (cloud.gov brokered S3 buckets).

Library code: nothing here prints. Every failure is a :mod:`ops_pipeline.errors` exception with a
one-line message that never contains a secret (the secret key, the session token or the
credentials ``uri`` from ``VCAP_SERVICES``).

Typical use::

    client = make_client()
    bucket, prefix = parse_s3_uri("s3://budget-uploads/fy2025/")
    for info in list_objects(client, bucket, prefix):          # oldest first
        meta = download(client, info, run_dir / "source", max_bytes=50_000_000)

``download`` verifies what arrived (length, SHA-256 when the store keeps one, else the MD5 ETag of a
single-part upload), writes a read-only copy under a safe local name and returns the metadata to
record in the run manifest.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ops_pipeline.errors import LimitExceeded, StorageError, UsageError
from ops_pipeline import progress, vcap
from ops_pipeline.redact import MIN_SECRET_CHARS, known_secrets, redact_url, scrub_secrets, scrub_text
from ops_pipeline.sources import safe_filename  # noqa: F401  (part of this module's API)

__all__ = [
    "ObjectInfo",
    "S3Settings",
    "parse_s3_uri",
    "s3_settings",
    "make_client",
    "safe_filename",
    "head",
    "list_objects",
    "download",
    "ENV_ENDPOINT",
    "ENV_SERVICE",
    "ENV_MAX_BYTES",
    "CHUNK_SIZE",
]

#: Environment variable overriding the object store endpoint (e.g. a local test server).
ENV_ENDPOINT = "OPS_PIPELINE_S3_ENDPOINT_URL"
#: Environment variable naming which ``s3`` service of ``VCAP_SERVICES`` to use.
ENV_SERVICE = "OPS_PIPELINE_S3_SERVICE"
#: Environment variable (and ``--max-bytes`` option) holding the download size limit.
ENV_MAX_BYTES = "OPS_PIPELINE_MAX_BYTES"
#: Bytes read from the response body at a time.
CHUNK_SIZE = 1024 * 1024

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_MD5_HEX = re.compile(r"[0-9a-f]{32}")
_MAX_BYTES_HINT = f"raise --max-bytes / {ENV_MAX_BYTES} if this file is expected"
_NO_CREDENTIALS = "no S3 credentials (set VCAP_SERVICES or AWS_* variables)"
_SECRET_SETTINGS = ("aws_secret_access_key", "aws_session_token")


# --------------------------------------------------------------------------------------------
# URIs and names


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key/or/prefix/`` into ``(bucket, key)``.

    The key (or prefix) is returned exactly as written, and may be empty (``s3://bucket`` or
    ``s3://bucket/`` mean the whole bucket). Anything else raises :class:`UsageError`.
    """
    if not isinstance(uri, str):
        raise UsageError(f"not an S3 URI: {type(uri).__name__}", hint="use s3://bucket/key")
    if "@" in uri.split("?", 1)[0]:
        # Possibly ``s3://key:secret@...``; AWS secrets contain "/" so even a redacted echo of
        # the URI could leak part of one: say nothing about its content.
        raise UsageError(
            "S3 URI must not contain credentials or '@'",
            hint="use s3://bucket/key and bind credentials through VCAP_SERVICES or AWS_* variables",
        )
    shown = _printable(redact_url(uri))
    if uri[:5].lower() != "s3://":
        raise UsageError(f"not an S3 URI: {shown}", hint="use s3://bucket/key or s3://bucket/prefix/")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise UsageError(f"S3 URI has no bucket: {shown}", hint="use s3://bucket/key")
    if not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise UsageError(
            f"S3 URI has an invalid bucket name: {shown}",
            hint="bucket names are 3-63 lower-case letters, digits, dots and hyphens",
        )
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise UsageError(f"S3 key longer than 1024 bytes: {shown[:120]}...")
    return bucket, key


# --------------------------------------------------------------------------------------------
# Settings and client


class S3Settings(dict):
    """The settings :func:`make_client` uses; a dict whose repr hides the secrets."""

    def __repr__(self) -> str:
        shown = {k: ("***" if k in _SECRET_SETTINGS and v else v) for k, v in self.items()}
        return f"S3Settings({shown!r})"

    __str__ = __repr__


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _as_endpoint_url(host: str | None) -> str | None:
    if not host:
        return None
    host = str(host).strip()
    if not host:
        return None
    if "://" not in host:
        host = f"https://{host}"
    return host.rstrip("/")


def _vcap_s3_service() -> dict | None:
    """The chosen ``s3`` service entry of ``VCAP_SERVICES``, or None if there is none."""
    entries = vcap.services("s3")
    if not entries:
        return None
    wanted = _env(ENV_SERVICE)
    if wanted is None:
        return entries[0]
    for entry in entries:
        if entry.get("name") == wanted:
            return entry
    names = ", ".join(sorted(str(e.get("name")) for e in entries))
    raise UsageError(
        f"no s3 service named {wanted!r} in VCAP_SERVICES (bound: {names})",
        hint=f"set {ENV_SERVICE} to one of the bound service names",
    )


def s3_settings(endpoint_url: str | None = None) -> S3Settings:
    """Where and as whom to connect, from the arguments and the environment.

    Keys: ``endpoint_url``, ``region_name``, ``aws_access_key_id``, ``aws_secret_access_key``
    (None means "boto3's usual chain decides"), ``bucket`` (the bound bucket, if any),
    ``service`` (the VCAP service name, if any) and ``source`` (``"vcap"`` or ``"default"``).

    Credentials come from the ``s3`` service in ``VCAP_SERVICES`` (the first, or the one named
    by ``OPS_PIPELINE_S3_SERVICE``), else from boto3's credential chain. The endpoint is, in
    order: the argument, ``OPS_PIPELINE_S3_ENDPOINT_URL``, the VCAP ``fips_endpoint`` /
    ``endpoint`` / ``hostname``, else the AWS default.
    """
    settings = S3Settings(
        endpoint_url=None,
        region_name=None,
        aws_access_key_id=None,
        aws_secret_access_key=None,
        bucket=None,
        service=None,
        source="default",
    )
    vcap_endpoint = None
    service = _vcap_s3_service()
    if service is not None:
        creds = service.get("credentials")
        if not isinstance(creds, dict):
            raise UsageError(
                f"s3 service {service.get('name')!r} in VCAP_SERVICES has no credentials",
                hint="re-bind the service or create a new service key",
            )
        access_key = creds.get("access_key_id")
        secret_key = creds.get("secret_access_key")
        if not access_key or not secret_key:
            raise UsageError(
                f"s3 service {service.get('name')!r} in VCAP_SERVICES lacks "
                "access_key_id or secret_access_key",
                hint="re-bind the service or create a new service key",
            )
        settings.update(
            aws_access_key_id=str(access_key),
            aws_secret_access_key=str(secret_key),
            region_name=creds.get("region") or None,
            bucket=creds.get("bucket") or None,
            service=service.get("name"),
            source="vcap",
        )
        vcap_endpoint = _as_endpoint_url(
            creds.get("fips_endpoint") or creds.get("endpoint") or creds.get("hostname")
        )
    settings["endpoint_url"] = (
        _as_endpoint_url(endpoint_url) or _as_endpoint_url(_env(ENV_ENDPOINT)) or vcap_endpoint
    )
    return settings


def make_client(
    endpoint_url: str | None = None,
    *,
    connect_timeout: float = 10,
    read_timeout: float = 60,
    max_attempts: int = 5,
):
    """A boto3 S3 client configured by :func:`s3_settings`, with bounded timeouts and retries.

    ``max_attempts`` counts every try, the first included (1 = no retry; botocore's own
    ``retries["max_attempts"]`` would count retries only). A fresh boto3 session is used so the
    current environment is read each time.
    """
    import boto3
    from botocore.config import Config

    settings = s3_settings(endpoint_url)
    config = Config(
        # botocore's "max_attempts" counts retries only; "total_max_attempts" counts every try.
        retries={"mode": "standard", "total_max_attempts": max(1, int(max_attempts))},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        signature_version="s3v4",
    )
    kwargs: dict[str, Any] = {
        key: settings[key]
        for key in ("endpoint_url", "region_name", "aws_access_key_id", "aws_secret_access_key")
        if settings[key]
    }
    session = boto3.session.Session()
    try:
        return session.client("s3", config=config, **kwargs)
    except Exception as exc:  # botocore ValueError for a bad endpoint URL, unknown region...
        raise StorageError(
            f"cannot configure the S3 client: {type(exc).__name__}",
            hint=f"check {ENV_ENDPOINT} and the VCAP_SERVICES s3 credentials",
        ) from _safe_cause(exc, _secrets(None))


# --------------------------------------------------------------------------------------------
# Objects


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """One object (or one version of one) in a bucket."""

    bucket: str
    key: str
    #: None when the bucket is not versioned (or for listings, which do not report versions).
    version_id: str | None
    #: The ETag without quotes; contains ``-N`` for multipart uploads.
    etag: str
    size: int
    #: ISO 8601 UTC at one-second resolution (what HEAD reports), e.g. ``2025-01-31T12:00:00+00:00``.
    last_modified: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _version(value: Any) -> str | None:
    if not value or value == "null":
        return None
    return str(value)


def _etag(value: Any) -> str:
    return str(value or "").strip().strip('"')


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    return dt.datetime.fromtimestamp(0, dt.timezone.utc)


def _iso(value: Any) -> str:
    return _utc(value).replace(microsecond=0).isoformat()


def head(client, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
    """Describe one object (a specific version when ``version_id`` is given)."""
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    uri = f"s3://{bucket}/{key}"
    try:
        resp = client.head_object(**params)
    except Exception as exc:
        _raise_storage(exc, client, uri, version_id=version_id)
        raise
    return ObjectInfo(
        bucket=bucket,
        key=key,
        version_id=_version(resp.get("VersionId")) or (version_id or None),
        etag=_etag(resp.get("ETag")),
        size=int(resp.get("ContentLength") or 0),
        last_modified=_iso(resp.get("LastModified")),
    )


def list_objects(client, bucket: str, prefix: str) -> list[ObjectInfo]:
    """The objects under ``prefix``, oldest first (by LastModified, then key).

    "Folder" placeholder keys (ending in ``/``) are skipped. Listings do not carry version ids,
    so ``version_id`` is None; :func:`download` records the version it actually got.
    """
    found: list[tuple[dt.datetime, str, ObjectInfo]] = []
    uri = f"s3://{bucket}/{prefix}"
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix or ""):
            for item in page.get("Contents") or ():
                key = item["Key"]
                if key.endswith("/"):
                    continue
                when = _utc(item.get("LastModified"))
                info = ObjectInfo(
                    bucket=bucket,
                    key=key,
                    version_id=None,
                    etag=_etag(item.get("ETag")),
                    size=int(item.get("Size") or 0),
                    last_modified=_iso(when),
                )
                found.append((when, key, info))
    except Exception as exc:
        _raise_storage(exc, client, uri, listing=True)
        raise
    found.sort(key=lambda row: (row[0], row[1]))
    return [row[2] for row in found]


def read_start(client, info: ObjectInfo, size: int = 1 << 16) -> bytes:
    """The first ``size`` bytes of an object (a ranged GET): enough to read a file's header
    without downloading it (``migrate --plan`` recognises each export file so)."""
    params: dict[str, Any] = {"Bucket": info.bucket, "Key": info.key, "Range": f"bytes=0-{max(0, size - 1)}"}
    if info.version_id:
        params["VersionId"] = info.version_id
    try:
        body = client.get_object(**params)["Body"]
        try:
            return body.read(size)
        finally:
            body.close()
    except Exception as exc:
        _raise_storage(exc, client, info.uri, version_id=info.version_id, reading=True)
        raise


def download(client, info: ObjectInfo, dest_dir: Path, *, max_bytes: int, name: str | None = None) -> dict:
    """Download one object into ``dest_dir / name`` (default ``safe_filename(info.key)``), verified
    and read-only.

    Refuses before any GET when ``info.size > max_bytes``, and stops if more than ``max_bytes``
    arrive anyway (:class:`LimitExceeded`). The GET asks for the exact version when known and
    (when the ETag is known) only if the object still has that ETag. The body is streamed into a
    temporary file in ``dest_dir`` while SHA-256 and MD5 are computed; then the byte count is
    checked against Content-Length, the SHA-256 against the store's ``ChecksumSHA256`` (unless it
    is a composite multipart checksum) and the MD5 against a single-part ETag. Only then is the
    file renamed into place (replacing an earlier copy of the same name) and made read-only.
    On any failure nothing is left in ``dest_dir``.

    Returns ``{"uri", "bucket", "key", "version_id", "etag", "size", "last_modified", "sha256",
    "checksum_verified", "path"}`` where ``checksum_verified`` is ``"sha256"``, ``"md5-etag"``
    or None (nothing to compare with) and ``path`` is the final path as a string.
    """
    if max_bytes is None or int(max_bytes) < 0:
        raise UsageError(f"invalid download size limit: {max_bytes!r}", hint="--max-bytes must be >= 0")
    max_bytes = int(max_bytes)
    uri = _printable(info.uri)
    if info.size > max_bytes:
        raise LimitExceeded(
            f"{uri} is {info.size} bytes, over the download limit of {max_bytes} bytes",
            hint=_MAX_BYTES_HINT,
            file=uri,
        )
    dest_dir = Path(dest_dir)
    final = dest_dir / (safe_filename(name) if name is not None else safe_filename(info.key))
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".s3-download-", suffix=".part", dir=dest_dir)
    except OSError as exc:
        raise StorageError(
            f"cannot write into {dest_dir}: {exc.strerror or type(exc).__name__}", file=uri
        ) from exc
    tmp = Path(tmp_name)
    try:
        meta = _fetch_into(client, info, fd, max_bytes=max_bytes)
        os.chmod(tmp, 0o400)
        os.replace(tmp, final)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise StorageError(
                f"cannot write {final}: {exc.strerror or type(exc).__name__}", file=uri
            ) from exc
        raise
    meta["path"] = str(final)
    return meta


def _fetch_into(client, info: ObjectInfo, fd: int, *, max_bytes: int) -> dict:
    """GET the object into the open file ``fd`` (closed on return), verify, return metadata."""
    uri = _printable(info.uri)
    params: dict[str, Any] = {"Bucket": info.bucket, "Key": info.key, "ChecksumMode": "ENABLED"}
    if info.version_id:
        params["VersionId"] = info.version_id
    if info.etag:
        params["IfMatch"] = f'"{info.etag}"'
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)  # FIPS hosts: ETag comparison, not security
    received = 0
    with os.fdopen(fd, "wb") as out:
        try:
            resp = client.get_object(**params)
            body = resp["Body"]
            try:
                with progress.task("fetch: downloading", info.size or None, unit="bytes",
                                   minimum=progress.MIN_BYTES) as bar:
                    for chunk in body.iter_chunks(CHUNK_SIZE):
                        received += len(chunk)
                        bar.advance(len(chunk))
                        if received > max_bytes:
                            raise LimitExceeded(
                                f"{uri} sent more than the download limit of {max_bytes} bytes "
                                f"(listed as {info.size} bytes)",
                                hint=_MAX_BYTES_HINT,
                                file=uri,
                            )
                        sha256.update(chunk)
                        md5.update(chunk)
                        out.write(chunk)
            finally:
                body.close()
        except LimitExceeded:
            raise
        except Exception as exc:
            _raise_storage(exc, client, info.uri, version_id=info.version_id, reading=True)
            raise
        out.flush()
        os.fsync(out.fileno())

    expected_length = resp.get("ContentLength")
    if expected_length is not None and received != int(expected_length):
        raise StorageError(
            f"{uri}: download incomplete ({received} of {expected_length} bytes)",
            hint="retry the download",
            file=uri,
        )
    etag = _etag(resp.get("ETag")) or info.etag
    if info.etag and etag != info.etag:
        raise StorageError(f"{uri}: object changed while downloading (ETag differs)", file=uri)
    digest = sha256.digest()
    verified = None
    store_sha = resp.get("ChecksumSHA256")
    if store_sha and "-" not in store_sha and resp.get("ChecksumType") != "COMPOSITE":
        try:
            expected = base64.b64decode(store_sha, validate=True)
        except ValueError:
            expected = None
        if expected != digest:
            raise StorageError(
                f"{uri}: SHA-256 of the downloaded bytes does not match the store's checksum",
                hint="retry the download; if it persists the stored object may be corrupt",
                file=uri,
            )
        verified = "sha256"
    single_part_md5 = (
        _MD5_HEX.fullmatch(etag)
        and not str(resp.get("ServerSideEncryption") or "").startswith("aws:kms")
        and not resp.get("SSECustomerAlgorithm")
    )
    if single_part_md5:
        if md5.hexdigest() != etag:
            raise StorageError(
                f"{uri}: MD5 of the downloaded bytes does not match the ETag",
                hint="retry the download; if it persists the stored object may be corrupt",
                file=uri,
            )
        verified = verified or "md5-etag"
    return {
        "uri": info.uri,
        "bucket": info.bucket,
        "key": info.key,
        "version_id": _version(resp.get("VersionId")) or info.version_id,
        "etag": etag,
        "size": received,
        "last_modified": _iso(resp.get("LastModified")) if resp.get("LastModified") else info.last_modified,
        "sha256": digest.hex(),
        "checksum_verified": verified,
    }


# --------------------------------------------------------------------------------------------
# Errors


def _printable(text: str) -> str:
    """Untrusted text (object keys) made safe for a one-line message."""
    return "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp") else f"\\x{ord(ch):02x}"
        for ch in str(text)
    )


def _secrets(client) -> list[str]:
    """Secret strings that must not appear in messages: every known one (environment, VCAP) and
    the client's own."""
    found = known_secrets()
    try:
        signer_creds = client._request_signer._credentials  # resolved already; no network here
        attrs = vars(signer_creds) if signer_creds is not None else {}
    except Exception:
        attrs = {}
    for name in ("secret_key", "_secret_key", "token", "_token"):
        value = attrs.get(name)
        if isinstance(value, str) and len(value) >= MIN_SECRET_CHARS:
            found.append(value)
    return found


def _safe_cause(exc: BaseException, secrets: list[str]) -> BaseException | None:
    """``exc`` if none of its text (or its causes') holds a secret, else None (chain dropped)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        try:
            text = f"{current}\n{current!r}"
        except Exception:
            return None
        if any(secret in text for secret in secrets):
            return None
        current = current.__cause__ or current.__context__
        seen += 1
    return exc


def _endpoint_host(client) -> str:
    try:
        parts = urlsplit(client.meta.endpoint_url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except Exception:
        return "the configured endpoint"


def _raise_storage(
    exc: BaseException,
    client,
    uri: str,
    *,
    version_id: str | None = None,
    listing: bool = False,
    reading: bool = False,
) -> None:
    """Raise ``exc`` as a one-line :class:`StorageError` if it is a botocore error."""
    from botocore import exceptions as bx

    if isinstance(exc, (StorageError, UsageError, LimitExceeded)):
        raise exc
    secrets = _secrets(client)
    shown = scrub_text(_printable(uri))
    where = f"{shown} (version {_printable(version_id)})" if version_id else shown
    hint = None
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "")
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        bucket_uri = "s3://" + shown[5:].split("/", 1)[0]
        if code == "NoSuchBucket":
            message = f"{bucket_uri}: no such bucket"
        elif code == "NoSuchVersion" or (version_id and code in ("400", "InvalidArgument")):
            message = f"{where}: no such object version"
        elif code in ("NoSuchKey", "NotFound") or status == 404:
            message = f"{shown}: no such bucket or prefix" if listing else f"{where}: no such object"
        elif code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            message = f"{shown}: the object store rejected the credentials ({code})"
            hint = "check the S3 service binding (VCAP_SERVICES) or the AWS_* variables"
        elif code in ("AccessDenied", "AllAccessDisabled", "Forbidden") or status == 403:
            message = f"{shown}: access denied"
            hint = "check that the credentials are for this bucket"
        elif code == "PreconditionFailed" or status == 412:
            message = f"{where}: object changed since it was listed (ETag differs)"
            hint = "list the objects again"
        else:
            message = f"{where}: object store error {_printable(code) or '?'} (HTTP {status})"
    elif isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        message = _NO_CREDENTIALS
    elif isinstance(exc, bx.CredentialRetrievalError):
        message = "cannot obtain S3 credentials (set VCAP_SERVICES or AWS_* variables)"
    elif isinstance(exc, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        message = f"cannot reach the object store at {_endpoint_host(client)} (timed out)"
        if reading:
            message += f" while reading {shown}"
        hint = "check the endpoint and the network, then retry"
    elif isinstance(exc, bx.SSLError):
        message = f"cannot reach the object store at {_endpoint_host(client)} (TLS error)"
    elif isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionError, bx.ConnectionClosedError)):
        message = f"cannot reach the object store at {_endpoint_host(client)}"
        hint = "check the endpoint and the network, then retry"
    elif isinstance(exc, (bx.IncompleteReadError, bx.ResponseStreamingError)):
        message = f"{where}: download interrupted"
        hint = "retry the download"
    elif isinstance(exc, bx.FlexibleChecksumError):
        message = f"{where}: downloaded bytes do not match the store's checksum"
        hint = "retry the download; if it persists the stored object may be corrupt"
    elif isinstance(exc, bx.BotoCoreError):
        message = f"{where}: object store client error ({type(exc).__name__})"
    else:
        return  # not ours to translate: the caller re-raises it unchanged
    raise StorageError(scrub_secrets(message, secrets), hint=hint, file=scrub_secrets(shown, secrets)) from (
        _safe_cause(exc, secrets)
    )
