"""archive: copy each finished run's record to object storage, so the audit trail outlives the disk.

On cloud.gov an app's disk is wiped by every restart and restage; the run directories on it hold
the audit trail. ``--archive s3://bucket/prefix/`` (or ``OPS_PIPELINE_ARCHIVE``) copies what a
run leaves as its record, server-side encrypted, under ``<prefix>runs/<run id>/``::

    report/report.json, .md, .html, .txt                       the report in every format
    logs/events.jsonl                                          the event log
    validate/summary.json, transform/summary.json, load/result.json
    rejects/rejected-rows.csv    rejected rows: row number and finding codes, no cell values
    manifest.json                written last: an archived run with a manifest is complete

These are the files :mod:`ops_pipeline.purge` keeps (none holds unmasked values) and they are
copied as the run directory has them, already scrubbed, with every known secret masked once
more. The staged data (``fetch/``, ``validate/*.jsonl``, ``transform/*.jsonl``) and the source
file are never copied unless ``--archive-data`` is given; then they are, together with
``rejects/rejects.csv``, the rejected rows with their cell values (formulas neutralised).

``run`` and ``poll`` take the option through :func:`ops_pipeline.cli.archive_option` and call
:func:`archive_run`; ``migrate`` will do the same. ``report RUN_ID --archive URI`` reads an
archived run whose directory is gone (:func:`read_archived_report`).
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import StorageError, UsageError
from .redact import known_secrets, scrub_secrets, scrub_text
from .rundir import RunDir, read_jsonl

ENV_ARCHIVE = "OPS_PIPELINE_ARCHIVE"
ENV_ARCHIVE_DATA = "OPS_PIPELINE_ARCHIVE_DATA"
#: Server-side encryption: ``AES256`` (S3-managed keys, the default) or ``aws:kms``.
ENV_SSE = "OPS_PIPELINE_ARCHIVE_SSE"
#: The KMS key for ``aws:kms`` (else the bucket's default KMS key).
ENV_KMS_KEY = "OPS_PIPELINE_ARCHIVE_KMS_KEY_ID"
SSE_CHOICES = ("AES256", "aws:kms")

#: The run's record, copied always: (path in the run directory, content type).
RECORD_FILES = (
    ("report/report.json", "application/json"),
    ("report/report.md", "text/markdown; charset=utf-8"),
    ("report/report.html", "text/html; charset=utf-8"),
    ("logs/events.jsonl", "application/x-ndjson"),
    ("validate/summary.json", "application/json"),
    ("transform/summary.json", "application/json"),
    ("load/result.json", "application/json"),
    ("load/plan.json", "application/json"),
)
MANIFEST = ("manifest.json", "application/json")
REJECTED_ROWS = "rejects/rejected-rows.csv"
REJECTS_WITH_VALUES = "rejects/rejects.csv"
#: A run id as ``RunDir.create`` makes it; anything else is not looked up in the archive.
_RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}")


@dataclass(frozen=True)
class Archive:
    """Where runs are archived and how (the ``--archive`` options)."""

    bucket: str
    prefix: str
    include_data: bool = False
    sse: str = "AES256"
    kms_key_id: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_uri(cls, uri: str, *, include_data: bool = False, endpoint_url: str | None = None,
                 env=os.environ) -> "Archive":
        """An archive at ``s3://bucket/prefix/``, encrypted as ``OPS_PIPELINE_ARCHIVE_SSE`` says."""
        from .stages.fetch_s3 import prefix_uri

        bucket, prefix = prefix_uri(uri)
        sse = (env.get(ENV_SSE) or "AES256").strip()
        if sse not in SSE_CHOICES:
            raise UsageError(f"{ENV_SSE} must be AES256 or aws:kms, not {sse[:20]!r}")
        kms_key = (env.get(ENV_KMS_KEY) or "").strip() or None
        if kms_key and sse != "aws:kms":
            raise UsageError(f"{ENV_KMS_KEY} is set but {ENV_SSE} is not aws:kms")
        return cls(bucket=bucket, prefix=prefix, include_data=include_data, sse=sse, kms_key_id=kms_key,
                   endpoint_url=endpoint_url)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def client(self):
        from .stages.fetch_s3 import s3_client

        return s3_client(self.endpoint_url)

    def put(self, client, key: str, body: bytes, content_type: str) -> None:
        """Write one object, encrypted at rest."""
        extra = {"ServerSideEncryption": self.sse}
        if self.kms_key_id:
            extra["SSEKMSKeyId"] = self.kms_key_id
        try:
            client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **extra)
        except Exception as exc:  # noqa: BLE001 - translated to a one-line StorageError
            _storage_error(exc, client, f"s3://{self.bucket}/{key}")

    def get(self, client, key: str) -> bytes | None:
        """One object's bytes, or None when there is no such object."""
        try:
            return client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:  # noqa: BLE001
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            _storage_error(exc, client, f"s3://{self.bucket}/{key}")


def _storage_error(exc: BaseException, client, uri: str) -> None:
    from .sources.s3 import _raise_storage

    _raise_storage(exc, client, uri)
    raise StorageError(f"{uri}: archive failed ({type(exc).__name__})") from None


# --------------------------------------------------------------------------------------------
# Writing


def archive_run(run: RunDir, archive: Archive, *, client=None) -> dict:
    """Copy ``run``'s record (and, with ``include_data``, its staged data) to ``archive``.

    Returns ``{"run_id", "uri", "files", "bytes", "data"}``. The manifest goes last, so a run
    whose archived manifest exists was archived whole. Raises :class:`StorageError`.
    """
    from .stages.report import render_text

    client = client or archive.client()
    run.reload()
    secrets = known_secrets()
    files: list[tuple[str, bytes, str]] = []
    for relpath, content_type in RECORD_FILES:
        path = run.path / relpath
        if path.is_file() and not path.is_symlink():
            files.append((relpath, _masked(path.read_bytes(), secrets), content_type))
    report_file = run.path / "report" / "report.json"
    if report_file.is_file():
        import json

        text = scrub_secrets(scrub_text(render_text(json.loads(report_file.read_text("utf-8")))), secrets)
        files.append(("report/report.txt", text.encode("utf-8"), "text/plain; charset=utf-8"))
    rejected = run.path / "validate" / "rejected.jsonl"
    if rejected.is_file() and not rejected.is_symlink():
        files.append((REJECTED_ROWS, _rejected_rows_csv(rejected), "text/csv; charset=utf-8"))
    if archive.include_data:
        files += _staged_data(run)
    files.append((MANIFEST[0], _masked((run.path / MANIFEST[0]).read_bytes(), secrets), MANIFEST[1]))

    base = archive.key("runs", run.run_id) + "/"
    for relpath, body, content_type in files:
        archive.put(client, base + relpath, body, content_type)
    return {"run_id": run.run_id, "uri": f"s3://{archive.bucket}/{base}", "files": [f[0] for f in files],
            "bytes": sum(len(f[1]) for f in files), "data": archive.include_data}


def _masked(body: bytes, secrets: list[str]) -> bytes:
    """The run's record is scrubbed when written; mask any known secret once more."""
    text = body.decode("utf-8", errors="replace")
    return scrub_secrets(text, secrets).encode("utf-8")


def _rejected_rows_csv(path: Path) -> bytes:
    """The rejected rows as the report shows them: row number and finding codes, no values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Row", "Findings"])
    for record in read_jsonl(path):
        writer.writerow([record.get("row"), ", ".join(str(code) for code in record.get("codes", []))])
    return buffer.getvalue().encode("utf-8")


def _staged_data(run: RunDir) -> list[tuple[str, bytes, str]]:
    """--archive-data: the source copy, the staged rows and entities, and the full rejects export."""
    from .export import export_rejects
    from .purge import staged_files

    files = []
    for path in staged_files(run.path):
        if path.is_symlink() or path.name.endswith(".tmp"):
            continue
        files.append((run.relpath(path), path.read_bytes(), "application/octet-stream"))
    if (run.path / "validate" / "rejected.jsonl").is_file():
        with tempfile.TemporaryDirectory() as folder:
            output = Path(folder) / "rejects.csv"
            export_rejects(run, output)
            files.append((REJECTS_WITH_VALUES, output.read_bytes(), "text/csv; charset=utf-8"))
    return files


# --------------------------------------------------------------------------------------------
# Reading


def archived_run_id(value: str) -> str:
    """The run id in ``value`` (a run id, or a path whose last part is one)."""
    run_id = Path(str(value)).name
    if not _RUN_ID.fullmatch(run_id):
        raise UsageError(f"not a run id: {scrub_text(str(value))[:80]!r}",
                         hint="a run id looks like 20261126T202410Z-3f9c1a")
    return run_id


def read_archived(archive: Archive, run_id: str, relpath: str, *, client=None) -> bytes:
    """One file of an archived run; :class:`UsageError` when the run or the file is not there."""
    run_id = archived_run_id(run_id)
    client = client or archive.client()
    base = archive.key("runs", run_id) + "/"
    body = archive.get(client, base + relpath)
    if body is None:
        if archive.get(client, base + MANIFEST[0]) is None:
            raise UsageError(f"run {run_id} is neither a run directory here nor archived in {archive.uri}",
                             hint="check the run id and --archive")
        raise UsageError(f"archived run {run_id} has no {relpath}")
    return body


def read_archived_report(archive: Archive, run_id: str, *, client=None) -> dict:
    """The report of an archived run, as ``report --format json`` prints it."""
    import json

    return json.loads(read_archived(archive, run_id, "report/report.json", client=client))
