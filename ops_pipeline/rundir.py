"""The run directory: the contract between stages.

Layout::

    runs/20261126T202410Z-3f9c1a/
      manifest.json        run id, version, dataset, source, per-stage status and files
      fetch/               immutable copy of the source file
      validate/            valid_rows.jsonl, findings.jsonl, rejected.jsonl, skipped.jsonl, summary.json
      transform/           entities.jsonl, summary.json
      load/                result.json (the real load), plan.json (the latest dry run)
      report/              report.json, report.md, report.html
      logs/events.jsonl    structured events of every stage, appended

Every file is written to a temporary name and renamed into place; the manifest is rewritten the
same way after every change. Directories are 0700 and files 0600 whatever the umask, because the
staged files hold proprietary data.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import functools
import hashlib
import itertools
import json
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from . import __version__
from .errors import IntegrityError, StageNotReady, UsageError
from .printable import printable_data
from .redact import scrub_data

STAGES = ("fetch", "validate", "transform", "load", "report")
MANIFEST = "manifest.json"
EVENTS = "logs/events.jsonl"
DIR_MODE = 0o700
FILE_MODE = 0o600

PENDING, RUNNING, SUCCEEDED, FAILED, STALE = "pending", "running", "succeeded", "failed", "stale"

#: Callables that receive every event as it is logged (the CLI shows them on the terminal).
EVENT_LISTENERS: list = []


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


#: What a run id looks like (the archive and the run's folder name rely on it).
RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}")


def derived_run_id(when: dt.datetime, *identity: str) -> str:
    """A run id named before the run, from what identifies it (dataset, source checksum or URI,
    run date): the same inputs name the same run, so a scheduler can tell whether it ran."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    digest = hashlib.sha256("\0".join((f"{when:%Y-%m-%dT%H%M%S}", *identity)).encode("utf-8", "surrogatepass"))
    return f"{when:%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:6]}"


def sha256_file(path: Path, bufsize: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(bufsize):
            digest.update(chunk)
    return digest.hexdigest()


def make_private_dir(path: Path) -> None:
    """Make sure ``path`` is a folder: each missing one is created 0700 (whatever the umask).

    A folder that already exists keeps its mode: it may be a shared folder (1777 with its
    sticky bit, 2775 with its setgid bit) that is not ours to change.
    """
    path = Path(path)
    if path.is_dir():
        return
    if path.parent != path:
        make_private_dir(path.parent)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if path.is_dir():  # made meanwhile by another process: not ours either
            return
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path)) from None
    os.chmod(path, DIR_MODE)


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Write ``path`` through a temporary file in the same folder, renamed into place on success.

    On any exception the temporary file is removed and the previous content of ``path`` (if any)
    stays untouched.
    """
    path = Path(path)
    make_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    try:
        kwargs = {"encoding": encoding, "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    """Write a JSON document of the run (manifest, summaries, results, report).

    None of these is staged data, so every string in them is scrubbed of anything that looks
    like an e-mail address, a phone number or an SSN (file and sheet names, quoted titles...);
    except ``path`` values, which must keep naming the files they name (fetch names its copy
    from the scrubbed source name).
    """
    data = scrub_data(json.loads(json.dumps(data, default=str)), keep=frozenset({"path"}))
    with atomic_write(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=False, default=str)
        handle.write("\n")


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _default(value: Any) -> str:
    return str(value)


class JsonLinesWriter:
    """Streams records to a JSON Lines file atomically, counting and hashing as it goes.

    orjson keeps staging cheap: encoding and decoding rows is most of a stage's time otherwise.
    """

    _OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS

    def __init__(self, handle, path: Path):
        self._handle = handle
        self.path = path
        self.count = 0
        self._digest = hashlib.sha256()
        self._pending: list[bytes] = []

    def write(self, record: Any) -> None:
        self._pending.append(orjson.dumps(record, default=_default, option=self._OPTIONS))
        self.count += 1
        if len(self._pending) >= 1024:
            self.flush()

    def write_all(self, records: Iterable[Any]) -> None:
        """Write every record of an iterable (faster than write() one by one)."""
        encode = functools.partial(orjson.dumps, default=_default, option=self._OPTIONS)
        records = iter(records)
        while block := list(map(encode, itertools.islice(records, 1024))):
            self._pending.extend(block)
            self.count += len(block)
            self.flush()

    def write_line(self, line: bytes) -> None:
        """Write one record already encoded as a JSON line (by a worker process)."""
        self._pending.append(line)
        self.count += 1
        if len(self._pending) >= 1024:
            self.flush()

    def write_lines(self, lines: list[bytes]) -> None:
        """Write records already encoded as JSON lines (by a worker process)."""
        self._pending.extend(lines)
        self.count += len(lines)
        self.flush()

    def flush(self) -> None:
        # Lines go out in blocks: one write and one hash update per block, not per row.
        if self._pending:
            block = b"".join(self._pending)
            self._pending.clear()
            self._handle.write(block)
            self._digest.update(block)

    @property
    def sha256(self) -> str:
        self.flush()
        return self._digest.hexdigest()


@contextlib.contextmanager
def write_jsonl(path: Path) -> Iterator[JsonLinesWriter]:
    with atomic_write(path, "wb", encoding=None) as handle:
        writer = JsonLinesWriter(handle, Path(path))
        yield writer
        writer.flush()


def read_jsonl(path: Path, block: int = 1 << 20) -> Iterator[Any]:
    """Stream the records of a JSON Lines file (read in blocks: a line at a time is slower)."""
    loads = orjson.loads
    with open(path, "rb") as handle:
        rest = b""
        while chunk := handle.read(block):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line.strip():
                    yield loads(line)
        if rest.strip():
            yield loads(rest)


class RunDir:
    """One run directory and its manifest. Stages go through :meth:`stage` to record themselves."""

    def __init__(self, path: Path | str):
        self.path = Path(path).resolve()
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            raise UsageError(
                f"{path} is not a run directory (no {MANIFEST})",
                hint="create one with: ops-pipeline fetch FILE",
            )
        self.manifest = read_json(manifest)
        self._held = False  # by exclusive()

    # -- creation -----------------------------------------------------------------------------
    @classmethod
    def create(cls, runs_root: Path | str, *, dataset: str, source: dict, run_id: str | None = None) -> "RunDir":
        """A new run directory under ``runs_root``, named by a fresh run id.

        With ``run_id`` (named before the run by a scheduler: see :func:`derived_run_id`), the
        directory of that name; if it already holds that run, the run is returned with its
        ``source`` replaced, for a fetch that is done again (its later stages go stale).
        """
        root = Path(runs_root)
        if run_id is not None:
            return cls._named(root, run_id, dataset=dataset, source=source)
        try:
            check_runs_root(runs_root)
            make_private_dir(root)
            for _ in range(5):
                run_id = new_run_id()
                path = root / run_id
                try:
                    path.mkdir(mode=DIR_MODE)
                    break
                except FileExistsError:
                    continue
            else:  # pragma: no cover - five random collisions in one second
                raise UsageError(f"cannot create a new run directory under {root}")
            os.chmod(path, DIR_MODE)
            make_private_dir(path / "logs")
        except OSError as exc:  # not writable, a read-only or special file system (/proc)...
            raise unusable_runs_root(runs_root, exc) from None
        return cls._start(path, run_id, dataset=dataset, source=source)

    @classmethod
    def _named(cls, root: Path, run_id: str, *, dataset: str, source: dict) -> "RunDir":
        if not RUN_ID.fullmatch(run_id):
            raise UsageError(f"{run_id!r} is not a run id", hint="a run id looks like 20261126T202410Z-3f9c1a")
        path = root / run_id
        try:
            check_runs_root(root)
            make_private_dir(root)
            try:
                path.mkdir(mode=DIR_MODE)
            except FileExistsError:
                if (path / MANIFEST).is_file():
                    run = cls(path)
                    if run.dataset != dataset:
                        raise UsageError(f"run {run_id} holds a {run.dataset} file, not a {dataset} file",
                                         hint="start a new run (another run date)")
                    run.manifest["source"] = source
                    run.save()
                    return run
            os.chmod(path, DIR_MODE)
            make_private_dir(path / "logs")
        except OSError as exc:
            raise unusable_runs_root(root, exc) from None
        return cls._start(path, run_id, dataset=dataset, source=source)

    @classmethod
    def _start(cls, path: Path, run_id: str, *, dataset: str, source: dict) -> "RunDir":
        manifest = {
            "run_id": run_id,
            "tool": "ops-pipeline",
            "version": __version__,
            "dataset": dataset,
            "source": source,
            "created_at": utcnow(),
            "stages": {name: {"status": PENDING} for name in STAGES},
        }
        write_json(path / MANIFEST, manifest)
        return cls(path)

    # -- basics -------------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.manifest["run_id"]

    @property
    def dataset(self) -> str:
        return self.manifest["dataset"]

    def stage_dir(self, stage: str) -> Path:
        path = self.path / stage
        make_private_dir(path)
        return path

    def stage_info(self, stage: str) -> dict:
        return self.manifest["stages"][stage]

    def status(self, stage: str) -> str:
        return self.stage_info(stage)["status"]

    def save(self) -> None:
        write_json(self.path / MANIFEST, self.manifest)

    def reload(self) -> None:
        self.manifest = read_json(self.path / MANIFEST)

    @contextlib.contextmanager
    def exclusive(self, stage: str) -> Iterator[None]:
        """Hold this run directory while ``stage`` runs; re-read the manifest once held.

        A second ops-pipeline command on the same run directory (two loads started by two CI
        jobs...) fails at once instead of interleaving manifest writes with this one. The lock is
        the kernel's (flock on the directory), so a crashed command never leaves it behind.
        """
        if self._held:
            yield
            return
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.reload()
                busy = [name for name, info in self.manifest.get("stages", {}).items()
                        if info.get("status") == RUNNING]
                doing = f"running {', '.join(busy)}" if busy else "working"
                raise StageNotReady(
                    f"cannot run {stage}: another ops-pipeline command is {doing} on this run directory",
                    stage=stage, run_id=self.run_id, hint="wait for it to finish, then rerun this stage",
                ) from None
            except OSError:  # a file system without locks: go on unlocked, as before
                pass
            self.reload()
            self._held = True
            try:
                yield
            finally:
                self._held = False
        finally:
            os.close(fd)  # releases the lock

    def relpath(self, path: Path) -> str:
        return str(Path(path).resolve().relative_to(self.path))

    # -- events -------------------------------------------------------------------------------
    def log_event(self, stage: str, event: str, level: str = "info", **fields: Any) -> dict:
        # Events quote file and sheet names: stored and shown with control characters escaped.
        record = printable_data(scrub_data({"time": utcnow(), "stage": stage, "level": level, "event": event,
                                            **fields}))
        path = self.path / EVENTS
        make_private_dir(path.parent)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        fd = os.open(path, flags, FILE_MODE)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        if EVENT_LISTENERS:
            # Listeners are told which run (a log service mixes runs); the file is the run's own.
            told = {**record, "run_id": self.run_id}
            for listener in EVENT_LISTENERS:
                listener(told)
        return record

    def events(self) -> list[dict]:
        path = self.path / EVENTS
        return list(read_jsonl(path)) if path.exists() else []

    # -- stage bookkeeping --------------------------------------------------------------------
    def require(self, stage: str, before: str) -> dict:
        """Refuse to run ``stage`` unless ``before`` succeeded and its outputs are unchanged."""
        info = self.stage_info(before)
        if info["status"] != SUCCEEDED:
            raise StageNotReady(
                f"cannot run {stage}: stage {before} is {info['status']}",
                stage=stage,
                run_id=self.run_id,
                hint=f"ops-pipeline {before} {self.path}",
            )
        self.verify_outputs(before, for_stage=stage)
        return info

    def verify_outputs(self, stage: str, for_stage: str | None = None) -> None:
        for output in self.stage_info(stage).get("outputs", []):
            path = self.path / output["path"]
            if not path.exists() and self.manifest.get("purged_at"):
                raise IntegrityError(
                    f"the staged data of this run was purged on {self.manifest['purged_at']} "
                    f"({output['path']} is gone); its manifest, report and event log remain",
                    stage=for_stage or stage,
                    run_id=self.run_id,
                    hint="fetch the source file again into a new run: ops-pipeline fetch FILE",
                )
            if not path.exists():
                raise IntegrityError(
                    f"{output['path']} recorded by {stage} is missing",
                    stage=for_stage or stage,
                    run_id=self.run_id,
                    hint=f"rerun: ops-pipeline {stage} {self.path}",
                )
            actual = sha256_file(path)
            if actual != output["sha256"]:
                raise IntegrityError(
                    f"{output['path']} no longer matches the sha256 recorded by {stage}",
                    stage=for_stage or stage,
                    run_id=self.run_id,
                    hint=f"rerun: ops-pipeline {stage} {self.path}",
                )

    def begin(self, stage: str) -> None:
        """Mark ``stage`` running. The stages after it are stale from here on, not only once it
        succeeds: a rerun that fails, or is killed, must not leave them standing on the earlier
        run's outputs."""
        info = self.manifest["stages"][stage]
        info.clear()
        info.update({"status": RUNNING, "started_at": utcnow()})
        self._mark_later_stale(stage)
        self.save()
        self.log_event(stage, "stage-started")

    def succeed(self, stage: str, *, inputs: Iterable[dict] = (), outputs: Iterable[dict] = (),
                counts: dict | None = None, **extra: Any) -> None:
        info = self.manifest["stages"][stage]
        info.update(
            {
                "status": SUCCEEDED,
                "finished_at": utcnow(),
                "inputs": list(inputs),
                "outputs": list(outputs),
                "counts": counts or {},
                **extra,
            }
        )
        self._mark_later_stale(stage)
        self.save()
        self.log_event(stage, "stage-succeeded", counts=counts or {})

    def fail(self, stage: str, error: dict, **extra: Any) -> None:
        info = self.manifest["stages"][stage]
        info.update({"status": FAILED, "finished_at": utcnow(), "error": error, **extra})
        info.setdefault("outputs", [])
        self._mark_later_stale(stage)
        self.save()
        self.log_event(stage, "stage-failed", level="error", error=error)

    def _mark_later_stale(self, stage: str) -> None:
        later = STAGES[STAGES.index(stage) + 1:]
        for name in later:
            info = self.manifest["stages"][name]
            if info["status"] in (SUCCEEDED, FAILED, RUNNING):
                info["status"] = STALE

    def output_record(self, path: Path, rows: int | None = None, sha256: str | None = None) -> dict:
        record = {"path": self.relpath(path), "sha256": sha256 or sha256_file(path)}
        if rows is not None:
            record["rows"] = rows
        return record

    def input_record(self, path: Path, stage: str | None = None) -> dict:
        """The path and sha256 of an input; when ``stage`` wrote it (and :meth:`require` checked it),
        the sha256 it recorded."""
        relpath = self.relpath(path)
        if stage is not None:
            for output in self.stage_info(stage).get("outputs", []):
                if output["path"] == relpath:
                    return {"path": relpath, "sha256": output["sha256"]}
        return {"path": relpath, "sha256": sha256_file(path)}


def unusable_runs_root(runs_root: Path | str, exc: OSError) -> UsageError:
    """The one-line error for a runs root we cannot create run directories in."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return UsageError(f"cannot use {str(runs_root)!r} as the runs root: {reason}",
                      hint="pass --runs-root DIR (or set OPS_PIPELINE_RUNS) naming a folder you can write to")


def check_runs_root(runs_root: Path | str) -> None:
    """Refuse a runs root that cannot be one: empty (it would be the working directory), or
    something other than a folder. A folder that does not exist yet is created when needed."""
    if not str(runs_root).strip():
        raise unusable_runs_root(runs_root, NotADirectoryError(0, "no folder named"))
    path = Path(runs_root)
    if path.exists() and not path.is_dir():
        raise unusable_runs_root(runs_root, NotADirectoryError(0, "not a folder"))


def find_runs(runs_root: Path | str) -> list[Path]:
    root = Path(runs_root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / MANIFEST).is_file())
