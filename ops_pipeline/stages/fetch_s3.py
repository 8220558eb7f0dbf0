"""fetch from S3-compatible object storage (cloud.gov brokered buckets) into a new run directory.

The object key is untrusted: the local copy is named by :func:`~ops_pipeline.sources.copy_name`
(safe, PII-looking text masked) inside the run's ``fetch/`` folder, whatever the key says. The manifest's ``source`` records the
URI, bucket, key, version id, ETag, size, last modified time, the sha256 computed while
downloading and which store checksum was verified -- never the endpoint's credentials.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..datasets.registry import get_dataset
from ..errors import LimitExceeded, UsageError
from ..rundir import RunDir
from ..sources import copy_name
from ..sources.s3 import ObjectInfo, download, head, list_objects, make_client, parse_s3_uri
from . import recorded

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
#: How many times an S3 request is tried in all (transient errors are retried with backoff).
ENV_ATTEMPTS = "OPS_PIPELINE_S3_ATTEMPTS"
DEFAULT_ATTEMPTS = 5

#: The manifest's ``source`` keys, in order.
SOURCE_FIELDS = ("uri", "bucket", "key", "version_id", "etag", "size", "last_modified", "sha256",
                 "checksum_verified")


def s3_client(endpoint_url: str | None = None):
    """A client with bounded timeouts and ``OPS_PIPELINE_S3_ATTEMPTS`` tries (default 5)."""
    text = os.environ.get(ENV_ATTEMPTS, "").strip()
    if text and not (text.isdigit() and 1 <= int(text) <= 20):
        raise UsageError(f"{ENV_ATTEMPTS} must be a number from 1 to 20, not {text[:20]!r}")
    attempts = int(text) if text else DEFAULT_ATTEMPTS
    return make_client(endpoint_url, max_attempts=attempts)


def object_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://`` URI that names one object (not a prefix)."""
    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        raise UsageError(
            f"s3://{bucket}/{key} is a prefix, not an object",
            hint=f"give the object's key, or take the oldest new object with: "
                 f"ops-pipeline fetch s3://{bucket}/{key} --next --db URL",
        )
    return bucket, key


def prefix_uri(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of an ``s3://`` URI read as a folder: ``incoming`` means ``incoming/``."""
    bucket, prefix = parse_s3_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def fetch_s3(source: str, runs_root: Path | str, *, dataset: str = "auto",
             max_bytes: int = DEFAULT_MAX_BYTES, endpoint_url: str | None = None, client=None,
             info: ObjectInfo | None = None, run_id: str | None = None) -> RunDir:
    """Download one object (``s3://bucket/key``) into a new run directory; return the run.

    ``info`` (from :func:`~ops_pipeline.sources.s3.head`) pins the exact version to get (and then
    ``source`` is not parsed again: listed keys may hold characters a typed URI may not); without
    it the object is described first. Failures before the run directory exists (no such object,
    unreachable endpoint) raise without creating one. An object over ``max_bytes`` is refused
    before any byte is downloaded, with a run directory whose fetch stage records the refusal
    (:class:`LimitExceeded`, whose ``run_id`` names it). ``run_id`` names the run directory, as
    for :func:`~ops_pipeline.stages.fetch.fetch`.
    """
    if max_bytes is None or int(max_bytes) < 0:
        raise UsageError(f"invalid size limit: {max_bytes!r}", hint="--max-bytes must be >= 0")
    if dataset != "auto":
        get_dataset(dataset)
    where = object_uri(source) if info is None else None
    client = client or s3_client(endpoint_url)
    if where is not None:
        info = head(client, *where)
    described = {
        "uri": info.uri, "bucket": info.bucket, "key": info.key, "version_id": info.version_id,
        "etag": info.etag, "size": info.size, "last_modified": info.last_modified,
        "name": copy_name(info.key),
    }
    from .fetch import resolve_dataset

    named = resolve_dataset(dataset, described["name"])
    # A text export's dataset is in its header: "auto" until the object is here.
    run = RunDir.create(runs_root, dataset=named or dataset, source=described, run_id=run_id)
    with recorded(run, "fetch"):
        if info.size > max_bytes:
            raise LimitExceeded(
                f"{described['name']} is {info.size:,} bytes, over the {int(max_bytes):,}-byte limit; "
                "refused before download",
                file=described["name"], hint="raise it with --max-bytes or OPS_PIPELINE_MAX_BYTES",
            )
        meta = download(client, info, run.stage_dir("fetch"), max_bytes=int(max_bytes), name=described["name"])
        path = Path(meta["path"])
        if named is None:
            run.manifest["dataset"] = resolve_dataset(dataset, described["name"], path)
        run.manifest["source"].update({name: meta.get(name) for name in SOURCE_FIELDS})
        run.succeed("fetch", outputs=[run.output_record(path, sha256=meta["sha256"])],
                    counts={"bytes": meta["size"]})
    return run


def next_object(source: str, *, db_url: str | None, max_bytes: int = DEFAULT_MAX_BYTES,
                endpoint_url: str | None = None, client=None) -> ObjectInfo | None:
    """The oldest object under the prefix that the ledger says is still to be processed."""
    from ..ledger import Ledger, version_key

    bucket, prefix = prefix_uri(source)
    client = client or s3_client(endpoint_url)
    with Ledger(db_url) as ledger:
        for listed in list_objects(client, bucket, prefix):
            info = head(client, bucket, listed.key)
            key = version_key(info.version_id, info.etag)
            if ledger.decide(info.uri, key, size=info.size, max_bytes=max_bytes).process:
                return info
    return None


def fetch_next(source: str, runs_root: Path | str, *, db_url: str | None, dataset: str = "budget-workbook",
               max_bytes: int = DEFAULT_MAX_BYTES, endpoint_url: str | None = None) -> RunDir | None:
    """Fetch the oldest object under the prefix not yet processed per the ledger; None if none.

    Only reads the ledger: the stages run by hand afterwards do not mark the object processed,
    but the poller will not load its content again (it finds the run record of the load).
    """
    client = s3_client(endpoint_url)
    info = next_object(source, db_url=db_url, max_bytes=max_bytes, client=client)
    if info is None:
        return None
    return fetch_s3(info.uri, runs_root, dataset=dataset, max_bytes=max_bytes, client=client, info=info)
