"""heartbeat: what a poller last did, so an operator can tell a stuck poller from an idle one.

After every pass ``poll`` writes one small JSON document per polled prefix: when the pass
ended, how many files it processed and how many failed, the age of the oldest object still
waiting, and the polling interval. It goes to ``<runs root>/heartbeat-<id>.json`` and, with an
archive, to ``<archive prefix>heartbeat/<id>.json`` (which survives a restart); ``<id>`` is
derived from the prefix, so one poller per prefix has one heartbeat. ``ops-pipeline status``
reads them (:func:`read_heartbeats`, :func:`health`).

A heartbeat is stale when its last pass ended more than twice the interval ago: the poller is
stuck or dead. A poller that finds nothing new still writes one every pass.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from . import __version__
from .rundir import atomic_write, read_json

#: Outcomes that leave the object waiting for the next pass.
RETRIED = ("failed", "crashed", "interrupted", "processing")
FAILED_OUTCOMES = ("failed", "crashed", "interrupted", "processing", "invalid", "refused")


def heartbeat_id(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(when: dt.datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse(text: str | None) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


class Heartbeat:
    """The heartbeat of one poller: :meth:`beat` after every pass."""

    def __init__(self, source: str, runs_root: Path | str, *, interval: float | None, archive=None) -> None:
        self.source = source
        self.runs_root = Path(runs_root)
        self.interval = interval
        self.archive = archive
        self.started_at = _iso(_now())
        self.totals = {"passes": 0, "processed": 0, "failed": 0}

    def document(self, result, now: dt.datetime | None = None) -> dict:
        """The heartbeat after ``result`` (a :class:`ops_pipeline.poll.PassResult`)."""
        now = now or _now()
        outcomes = [r.outcome for r in result.results]
        processed = len(outcomes)
        failed = sum(1 for o in outcomes if o in FAILED_OUTCOMES)
        self.totals["passes"] += 1
        self.totals["processed"] += processed
        self.totals["failed"] += failed
        waiting = [w for w in (_parse(t) for t in getattr(result, "waiting", [])) if w is not None]
        oldest = min(waiting) if waiting else None
        return {
            "source": result.source,
            "last_pass_at": _iso(now),
            "interval_seconds": self.interval,
            "last_pass": {"processed": processed, "failed": failed, "counts": result.counts(),
                          "error": result.error.one_line() if result.error else None},
            "oldest_waiting_age_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
            "waiting": len(waiting),
            "totals": dict(self.totals),
            "poller": {"started_at": self.started_at, "host": socket.gethostname(), "pid": os.getpid(),
                       "instance": os.environ.get("CF_INSTANCE_INDEX"), "version": __version__},
        }

    def beat(self, result, *, client=None, now: dt.datetime | None = None) -> str | None:
        """Write the heartbeat locally and to the archive; what could not be written, else None.

        A heartbeat that cannot be written never stops the poller: the next pass writes again.
        """
        from .errors import PipelineError

        document = self.document(result, now)
        name = heartbeat_id(self.source)
        errors = []
        try:
            with atomic_write(self.runs_root / f"heartbeat-{name}.json") as handle:
                json.dump(document, handle, indent=2)
        except OSError as error:  # a full disk must not stop the poller
            errors.append(f"cannot write {self.runs_root}/heartbeat-{name}.json: {error.strerror}")
        if self.archive is not None:
            try:
                self.archive.put(client or self.archive.client(), self.archive.key("heartbeat", f"{name}.json"),
                                 json.dumps(document, indent=2).encode("utf-8"), "application/json")
            except PipelineError as error:
                errors.append(error.one_line())
        return "; ".join(errors) or None


def read_heartbeats(runs_root: Path | str, archive=None, *, source: str | None = None, client=None) -> list[dict]:
    """Every heartbeat found (one per source, the latest of the local and the archived copy)."""
    found: dict[str, dict] = {}

    def keep(data: Any, where: str) -> None:
        if not isinstance(data, dict) or not data.get("source"):
            return
        if source and data["source"] != source:
            return
        data = {**data, "read_from": where}
        current = found.get(data["source"])
        if current is None or (_parse(data.get("last_pass_at")) or _epoch()) > \
                (_parse(current.get("last_pass_at")) or _epoch()):
            found[data["source"]] = data

    root = Path(runs_root)
    if root.is_dir():
        for path in sorted(root.glob("heartbeat-*.json")):
            try:
                keep(read_json(path), str(path))
            except (OSError, ValueError):
                continue
    if archive is not None:
        from .sources.s3 import list_objects

        client = client or archive.client()
        for info in list_objects(client, archive.bucket, archive.key("heartbeat") + "/"):
            body = archive.get(client, info.key)
            try:
                keep(json.loads(body or b"null"), info.uri)
            except ValueError:
                continue
    return [found[key] for key in sorted(found)]


def _epoch() -> dt.datetime:
    return dt.datetime.fromtimestamp(0, dt.timezone.utc)


def health(heartbeat: dict, *, now: dt.datetime | None = None, max_age: float | None = None) -> dict:
    """``heartbeat`` with ``age_seconds``, ``max_age_seconds`` and ``state``: ``ok`` or ``stale``
    (the last pass ended more than ``max_age``, by default twice the interval, ago). A single
    pass (``--once``, no interval) is never stale unless ``max_age`` is given."""
    now = now or _now()
    last = _parse(heartbeat.get("last_pass_at"))
    age = round((now - last).total_seconds(), 1) if last else None
    interval = heartbeat.get("interval_seconds")
    limit = max_age if max_age is not None else (2 * float(interval) if interval else None)
    stale = last is None or (limit is not None and age > limit)
    return {**heartbeat, "age_seconds": age, "max_age_seconds": limit, "state": "stale" if stale else "ok"}
