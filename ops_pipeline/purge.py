"""Retention: remove the staged data of old runs, keep their history.

The staged data -- the source copy in ``fetch/``, the rows in ``validate/*.jsonl`` and the
entities in ``transform/*.jsonl`` -- holds the workbook's values, PII included. Once a run is
old enough it is removed. What stays is the run's record: ``manifest.json`` (source sha256 and
size, per-stage counts, output checksums), ``validate/summary.json``, ``transform/summary.json``,
``load/result.json``, ``report/`` and ``logs/events.jsonl``; none of them holds unmasked values,
so the history and the lineage (which file, which sha256, how many rows, loaded where) remain
auditable after the data is gone.

The purge is recorded in the manifest (``purged_at`` and the list of removed files) and in the
event log. Stages refuse to run on a purged run: :meth:`RunDir.verify_outputs` says so.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from .errors import StageNotReady, UsageError
from .rundir import MANIFEST, RunDir, find_runs, utcnow

#: Where staged data lives in a run directory: every file under these folders matching these
#: names (temporary files of an interrupted write hold staged data too).
STAGED = {
    "fetch": ("*", ".*"),
    "validate": ("*.jsonl", ".*.tmp"),
    "transform": ("*.jsonl", ".*.tmp"),
}

_AGE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
#: The longest --older-than: older runs than this cannot exist, and a much larger age overflows
#: the date arithmetic.
MAX_AGE = dt.timedelta(days=100 * 365)


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``2w`` → a timedelta. Anything else raises :class:`UsageError`."""
    match = _AGE.match(str(text))
    if not match:
        raise UsageError(f"--older-than must be a number and a unit (h, d or w), e.g. 30d, not {text!r}")
    number, unit = int(match.group(1)), match.group(2).lower()
    age = dt.timedelta(**{_UNITS[unit]: min(number, 10**8)})  # no OverflowError, still over MAX_AGE
    if age > MAX_AGE:
        raise UsageError(f"--older-than {text.strip()[:40]!r} is longer than {MAX_AGE.days // 365} years",
                         hint=f"use at most {MAX_AGE.days}d")
    return age


def staged_files(run_path: Path) -> list[Path]:
    """The staged-data files of one run directory (never following a link out of it)."""
    found: set[Path] = set()
    for folder, patterns in STAGED.items():
        base = run_path / folder
        if not base.is_dir() or base.is_symlink():
            continue
        for pattern in patterns:
            for path in base.rglob(pattern) if folder == "fetch" else base.glob(pattern):
                if path.is_symlink() or path.is_file():
                    found.add(path)
    return sorted(found)


def _created_at(run: RunDir) -> dt.datetime:
    raw = run.manifest.get("created_at")
    try:
        return dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime.fromtimestamp((run.path / MANIFEST).stat().st_mtime, dt.timezone.utc)


def purge(runs_root: Path | str, older_than: str | dt.timedelta, *, dry_run: bool = False,
          now: dt.datetime | None = None) -> dict:
    """Remove the staged data of every run under ``runs_root`` created more than ``older_than``
    ago. With ``dry_run`` nothing is removed or recorded; the result lists what would be.

    Returns ``{"older_than", "cutoff", "dry_run", "runs": [{"run_id", "path", "created_at",
    "files", "bytes"}], "files", "bytes", "runs_kept"}``; ``runs`` lists only runs that had
    staged data to remove.
    """
    age = parse_age(older_than) if isinstance(older_than, str) else older_than
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = now - age
    result: dict = {
        "older_than": older_than if isinstance(older_than, str) else f"{int(age.total_seconds() // 3600)}h",
        "cutoff": cutoff.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "dry_run": dry_run,
        "runs": [],
        "files": 0,
        "bytes": 0,
        "runs_kept": 0,
        "unreadable": [],
        "busy": [],
    }
    for path in find_runs(runs_root):
        try:
            run = RunDir(path)
        except (ValueError, OSError, UsageError):
            result["unreadable"].append(str(path))  # a damaged manifest: leave it to a person
            continue
        if _created_at(run) > cutoff:
            result["runs_kept"] += 1
            continue
        files = staged_files(run.path)
        if not files:
            continue
        entry = {
            "run_id": run.run_id,
            "path": str(run.path),
            "created_at": run.manifest.get("created_at"),
            "files": [run.relpath(f) if not f.is_symlink() else str(f.relative_to(run.path)) for f in files],
            "bytes": sum(f.lstat().st_size for f in files),
        }
        if not dry_run:
            try:
                with run.exclusive("purge"):  # not while a command works on it
                    _remove(run, files, entry)
            except StageNotReady:
                result["busy"].append(str(path))
                continue
        result["runs"].append(entry)
        result["files"] += len(files)
        result["bytes"] += entry["bytes"]
    return result


def _remove(run: RunDir, files: list[Path], entry: dict) -> None:
    for path in files:
        try:
            os.unlink(path)  # a link is removed itself, never its target
        except FileNotFoundError:
            pass
    run.reload()
    purged = run.manifest.get("purged", [])
    run.manifest["purged_at"] = utcnow()
    run.manifest["purged"] = purged + [f for f in entry["files"] if f not in purged]
    run.save()
    run.log_event("purge", "staged-data-purged", files=entry["files"], bytes=entry["bytes"])
