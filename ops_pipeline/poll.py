"""poll: run every new object under an S3 prefix through the five stages, each exactly once.

One pass (:func:`poll_pass`) lists the prefix oldest first and, for each object version the
ledger (:mod:`ops_pipeline.ledger`) has not seen finished, writes the ledger row as
``processing``, fetches it into a new run directory, checks its content against what was already
loaded, runs validate → transform → load → report, records the outcome, optionally copies the
object to ``processed/`` or ``rejected/`` with its report, and sends the notification.
:func:`poll` repeats passes until asked to stop.

One bad file never stops the pass: its run is recorded (``invalid``, ``refused`` or ``failed``;
``crashed`` when a reader died on it, which validate contains in a child process) and the next
object follows. The pass itself stops early only when the object store or the
database cannot be reached (the error is in :attr:`PassResult.error`; the next pass retries).

Stopping: a :class:`StopRequest` is checked before every object and between stages. The stage
that is running finishes (a load commits or rolls back as a whole); the object's run is then
recorded ``interrupted`` and is retried from the start by the next poller (it is not notified:
its retry is). :func:`stop_on_signals` turns SIGTERM and Ctrl-C into such a request; a second
signal interrupts at once.

Run one poller per prefix: a ``processing`` row is taken for a dead poller's leftover and
retried, so a second live poller could process the same file at the same time (its load would
change nothing, but the file would have two runs).
"""
from __future__ import annotations

import contextlib
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import (DataInvalid, DatabaseError, ExitCode, LimitExceeded, PipelineError, ReaderCrashed, StorageError,
                     UsageError)
from .ledger import (CRASHED, DUPLICATE, FAILED, INTERRUPTED, INVALID, PROCESSING, REFUSED, SUCCEEDED, Entry,
                     Ledger, version_key)
from .notify import Target, notify
from .pipeline import Options, continue_run, run_stage
from .printable import printable
from .redact import safe_reason, scrub_data, scrub_secrets, scrub_text
from .rundir import RunDir
from .sources import copy_name
from .sources.s3 import ObjectInfo, _printable, _raise_storage, head, list_objects
from .stages.fetch_s3 import DEFAULT_MAX_BYTES, fetch_s3, prefix_uri, s3_client

#: Where ``--move`` copies an object, next to the polled prefix, by outcome.
MOVE_FOLDERS = {SUCCEEDED: "processed", INVALID: "rejected", REFUSED: "rejected"}


# --------------------------------------------------------------------------------------------
# Options, results


@dataclass(frozen=True)
class PollOptions:
    """How to process each object (the ``poll`` command's options)."""

    runs_root: Path | str
    db_url: str | None = None
    dataset: str = "budget-workbook"
    accept_rejects: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    endpoint_url: str | None = None
    reader: str = "auto"
    #: Copy each finished object to processed/ or rejected/ next to the prefix, with its report.
    move: bool = False
    #: Notification targets (from :func:`ops_pipeline.notify.parse_notify_targets`).
    notify: Sequence[Target] = ()
    #: Where each finished run's record is copied (:class:`ops_pipeline.archive.Archive`), and
    #: where the heartbeat goes besides the runs root.
    archive: Any = None


@dataclass
class ObjectResult:
    """What happened to one object version in a pass."""

    uri: str
    version_id: str | None
    outcome: str
    run_id: str | None = None
    run_dir: str | None = None
    #: The run report's status (succeeded, invalid, failed, incomplete...).
    status: str | None = None
    #: ``{"code", "message"}`` of the error that ended the run, secrets and PII scrubbed.
    error: dict | None = None
    #: For a duplicate: the run that loaded the same content.
    duplicate_of: str | None = None
    moved_to: str | None = None
    report_uri: str | None = None
    move_error: str | None = None
    #: Where the run was archived (``--archive``), or why it could not be.
    archive_uri: str | None = None
    archive_error: str | None = None
    notified: list = field(default_factory=list)
    #: The exception behind ``error`` (not serialised).
    cause: BaseException | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        """The result for ``--json``: object keys are untrusted text, scrubbed like any other."""
        data = asdict(self)
        del data["cause"]
        return scrub_data(data, keep=frozenset({"run_dir"}))

    def line(self) -> str:
        """One line for the operator's terminal, the object key scrubbed."""
        return scrub_secrets(scrub_text(self._line()))

    def _line(self) -> str:
        text = f"{self.outcome:<11} {_printable(self.uri)}"
        if self.version_id:
            text += f" (version {_printable(self.version_id)})"
        if self.duplicate_of:
            text += f": same content as run {self.duplicate_of}, not loaded again"
        elif self.run_id:
            text += f" run {self.run_id}"
        if self.error:
            text += f": {self.error['code']}: {printable(self.error['message'])}"
        return text


@dataclass
class PassResult:
    """One pass over the prefix."""

    source: str
    results: list[ObjectResult] = field(default_factory=list)
    #: Object versions listed but already finished (per the ledger) or taken by another poller.
    skipped: int = 0
    #: Why the pass stopped early (object store or database unreachable), else None.
    error: PipelineError | None = None
    #: True when a stop was requested during the pass.
    stopped: bool = False
    #: Last-modified times of the listed objects left waiting: retried next pass, or not reached.
    waiting: list[str] = field(default_factory=list)
    #: Why the heartbeat could not be written to the archive, else None.
    heartbeat_error: str | None = None

    @property
    def exit_code(self) -> ExitCode:
        """0 all succeeded (or nothing to do), 1 a file was invalid or refused, 3 a run or the pass
        failed or was interrupted. The worst wins."""
        if self.error is not None or any(r.archive_error for r in self.results):
            return ExitCode.RUN_FAILED
        outcomes = {r.outcome for r in self.results}
        if outcomes & {FAILED, CRASHED, INTERRUPTED, PROCESSING}:
            return ExitCode.RUN_FAILED
        if outcomes & {INVALID, REFUSED}:
            return ExitCode.DATA_INVALID
        return ExitCode.OK

    def counts(self) -> dict:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
        counts["skipped"] = self.skipped
        return counts

    def as_dict(self) -> dict:
        return {
            "source": scrub_secrets(scrub_text(self.source)),
            "counts": self.counts(),
            "results": [r.as_dict() for r in self.results],
            "error": scrub_secrets(scrub_text(self.error.one_line())) if self.error else None,
            "stopped": self.stopped,
            "exit_code": int(self.exit_code),
        }


# --------------------------------------------------------------------------------------------
# Stopping


class StopRequest:
    """A flag that a signal handler (or another thread) sets; the poller checks it between steps."""

    def __init__(self) -> None:
        self.requested = False
        self.reason: str | None = None

    def set(self, reason: str = "stop requested") -> None:
        self.reason = self.reason or reason
        self.requested = True

    def __bool__(self) -> bool:
        return self.requested

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on a stop request; True if one was made.

        Sleeps in short slices rather than on an Event: setting an Event from a signal handler
        can deadlock when the signal lands inside the Event's own lock.
        """
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.requested:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(0.2, left))
        return self.requested


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """While active, SIGTERM and SIGINT (Ctrl-C) request a stop; a second one interrupts at once
    (KeyboardInterrupt: the running stage records itself interrupted, a load rolls back)."""
    def handler(signum, _frame):
        name = signal.Signals(signum).name
        if stop.requested:
            raise KeyboardInterrupt(f"{name} received twice")
        stop.set(name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$", re.IGNORECASE)


#: The shortest and longest --every: under a second the poller only hammers the object store
#: with listings; over a day it is a cron job's work (and a far larger wait overflows the timer).
INTERVAL_RANGE = (1.0, 24 * 3600.0)


def parse_interval(text: str) -> float:
    """Seconds in ``30s``, ``5m``, ``1h`` or ``90`` (seconds), from 1 s to 24 h."""
    match = _INTERVAL.match(str(text or ""))
    if not match:
        raise UsageError(f"--every: not an interval: {str(text)[:40]!r}", hint="use e.g. 30s, 5m or 1h")
    unit = (match.group(2) or "s").lower()[0]
    seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]
    if not INTERVAL_RANGE[0] <= seconds <= INTERVAL_RANGE[1]:
        raise UsageError(f"--every: {str(text).strip()[:40]!r} is not between 1s and 24h",
                         hint="use e.g. 30s, 5m or 1h")
    return seconds


# --------------------------------------------------------------------------------------------
# Notifications


def send_notification(run_report: Mapping[str, Any], targets: Sequence[Target], *,
                      report_uri: str | None = None) -> list[dict]:
    """Send a run's outcome to each target; returns ``[{"channel", "ok", "error"?}]``.

    The notification is the whitelist of :func:`ops_pipeline.notify.notification_from_report`
    plus where the full report is; it never carries cell values, names or comments.
    """
    if not targets:
        return []
    data = dict(run_report)
    if data.get("run_dir"):
        data["report_path"] = str(Path(data["run_dir"]) / "report" / "report.json")
    if report_uri:
        data["report_uri"] = report_uri
    return notify(data, targets)


# --------------------------------------------------------------------------------------------
# The pass


def check_source(source: str, options: PollOptions) -> tuple[str, str]:
    """``(bucket, prefix)`` to poll; refuses options that cannot work with it."""
    bucket, prefix = prefix_uri(source)
    if options.move and not prefix:
        raise UsageError(
            "--move needs a prefix such as s3://bucket/incoming/: processed/ and rejected/ are "
            "created next to it and must not be inside what is polled",
        )
    return bucket, prefix


def poll_pass(source: str, options: PollOptions, *, stop: StopRequest | None = None, client=None,
              ledger: Ledger | None = None,
              on_result: Callable[[ObjectResult], None] | None = None) -> PassResult:
    """One pass over ``source`` (``s3://bucket/prefix/``): process every new object, oldest first.

    Raises only for problems that no pass can get past (bad options, no database schema); an
    unreachable store or database ends the pass with :attr:`PassResult.error` set.
    """
    bucket, prefix = check_source(source, options)
    stop = StopRequest() if stop is None else stop
    result = PassResult(source=f"s3://{bucket}/{prefix}")
    own_ledger = ledger is None
    ledger = Ledger(options.db_url) if own_ledger else ledger
    listed: list[ObjectInfo] = []
    reached = 0
    try:
        client = client or s3_client(options.endpoint_url)
        try:
            listed = list_objects(client, bucket, prefix)
            for info in listed:
                if stop:
                    break
                done = _process(info, prefix, options, client=client, ledger=ledger, stop=stop)
                reached += 1
                if done is None:
                    result.skipped += 1
                    continue
                result.results.append(done)
                if done.outcome in (FAILED, CRASHED, INTERRUPTED, PROCESSING):
                    result.waiting.append(info.last_modified)
                if on_result is not None:
                    on_result(done)
                if isinstance(done.cause, StorageError) and _store_unreachable(done.cause):
                    raise done.cause  # the next objects would fail the same way: the next pass retries
        except (StorageError, DatabaseError) as error:
            result.error = error
    finally:
        if own_ledger:
            ledger.close()
    result.waiting += [info.last_modified for info in listed[reached:]]
    result.stopped = bool(stop)
    return result


def poll(source: str, options: PollOptions, *, every: float | None = None, stop: StopRequest | None = None,
         client=None, on_pass: Callable[[PassResult], None] | None = None,
         on_result: Callable[[ObjectResult], None] | None = None) -> ExitCode:
    """One pass (``every=None``), or a pass every ``every`` seconds until ``stop`` is requested.

    Returns the exit code: the pass's (:attr:`PassResult.exit_code`) for one pass; 0 for a loop
    that stopped on request. The database (and its schema) is checked once at the start: a
    poller that cannot record anything refuses to start. Later outages end one pass and are
    retried by the next.
    """
    from .heartbeat import Heartbeat

    bucket, prefix = check_source(source, options)
    stop = StopRequest() if stop is None else stop
    heartbeat = Heartbeat(f"s3://{bucket}/{prefix}", options.runs_root, interval=every, archive=options.archive)
    with Ledger(options.db_url) as ledger:
        client = client or s3_client(options.endpoint_url)
        while True:
            outcome = poll_pass(source, options, stop=stop, client=client, ledger=ledger, on_result=on_result)
            outcome.heartbeat_error = heartbeat.beat(outcome)
            if on_pass is not None:
                on_pass(outcome)
            if every is None:
                return outcome.exit_code
            if stop or stop.wait(every):
                return ExitCode.OK


def _store_unreachable(error: StorageError) -> bool:
    # sources.s3 words every connection failure this way; object-specific errors differ.
    return error.message.startswith("cannot reach the object store")


def _process(listed: ObjectInfo, prefix: str, options: PollOptions, *, client, ledger: Ledger,
             stop: StopRequest) -> ObjectResult | None:
    """Process one listed object if the ledger says so; None when it is skipped."""
    try:
        info = head(client, listed.bucket, listed.key)  # the listing carries no version id
    except StorageError as error:
        if str(error).endswith("no such object"):  # deleted since it was listed
            return None
        raise
    key = version_key(info.version_id, info.etag)
    decision = ledger.decide(info.uri, key, size=info.size, max_bytes=options.max_bytes)
    if not decision.process:
        return None
    entry = ledger.claim(info.uri, key, version_id=info.version_id, etag=info.etag, size=info.size,
                         seen=decision.entry)
    if entry is None:  # another poller claimed it between our read and our write
        return None
    previous_run = decision.entry.run_id if decision.entry else None
    return _run_object(info, entry, previous_run, prefix, options, client=client, ledger=ledger, stop=stop)


def _run_object(info: ObjectInfo, entry: Entry, previous_run: str | None, prefix: str, options: PollOptions,
                *, client, ledger: Ledger, stop: StopRequest) -> ObjectResult:
    result = ObjectResult(uri=info.uri, version_id=info.version_id, outcome=PROCESSING)
    run: RunDir | None = None
    finished = False
    try:
        error: BaseException | None = None
        data = None
        try:
            run = fetch_s3(info.uri, options.runs_root, dataset=options.dataset, max_bytes=options.max_bytes,
                           client=client, info=info)
        except PipelineError as exc:
            run = _run_of(exc, options.runs_root)
            outcome = REFUSED if isinstance(exc, LimitExceeded) else INVALID if isinstance(exc, DataInvalid) \
                else FAILED
            error = exc
        else:
            source = run.manifest["source"]
            entry = ledger.fetched(entry, run_id=run.run_id, sha256=source["sha256"], size=source["size"],
                                   etag=source.get("etag"), version_id=source.get("version_id"))
            loaded_by = ledger.loaded_content(source["sha256"])
            if loaded_by is not None:
                # Already in the database: this copy makes no run. If the run that loaded it was
                # this very version's (a poller killed after the load committed), it succeeded.
                shutil.rmtree(run.path, ignore_errors=True)
                result.outcome = SUCCEEDED if loaded_by == previous_run else DUPLICATE
                result.run_id = loaded_by
                result.duplicate_of = loaded_by if result.outcome == DUPLICATE else None
                ledger.finish(entry, result.outcome, run_id=loaded_by)
                finished = True
                return result
            outcome, error, data = _stages(run, options, ledger.url, stop)

        result.outcome = outcome
        result.error = _error_record(error) if error is not None else None
        result.cause = error
        if run is not None:
            result.run_id, result.run_dir = run.run_id, str(run.path)
            if data is None:  # fetch failed (or the report did): report what the run directory holds
                data = _report(run)
            result.status = data["status"] if data else None
        ledger.finish(entry, outcome, run_id=run.run_id if run else None)
        finished = True
        if options.archive is not None and run is not None:
            _archive(run, options.archive, result)
        if outcome == INTERRUPTED:
            return result  # retried by the next poller: no move, no notification yet
        if options.move and outcome in MOVE_FOLDERS:
            _move(client, info, prefix, outcome, run, result)
        if options.notify:
            notice = data or {"run_id": result.run_id, "status": "failed",
                              "error": {"code": (result.error or {}).get("code", "run-failed")}}
            result.notified = send_notification(notice, options.notify, report_uri=result.report_uri)
        return result
    except BaseException as exc:
        # A second Ctrl-C, or the database gone while recording: leave the row retryable.
        if not finished:
            with contextlib.suppress(Exception):
                ledger.finish(entry, INTERRUPTED if isinstance(exc, KeyboardInterrupt) else FAILED,
                              run_id=run.run_id if run else None)
        raise


def _stages(run: RunDir, options: PollOptions, db_url: str,
            stop: StopRequest) -> tuple[str, BaseException | None, dict | None]:
    """The orchestrator's stages after fetch, asking for a stop request before each; (outcome,
    error, report). A crash is this file's outcome: the others go on."""
    done = continue_run(run, Options(db_url=db_url, accept_rejects=options.accept_rejects, reader=options.reader),
                        stop=lambda: bool(stop), contain=True)
    return outcome_of(done.error, done.interrupted), done.error, done.report


def outcome_of(error: BaseException | None, interrupted: bool = False) -> str:
    """The ledger outcome of a run that ended with ``error`` (None: it succeeded, or was
    ``interrupted``): poll and the Luigi tasks record the same."""
    if isinstance(error, DataInvalid):
        return INVALID
    if isinstance(error, ReaderCrashed):  # contained in a child process: this file crashed
        return CRASHED
    if isinstance(error, PipelineError):
        return FAILED
    if error is not None:  # a bug: this file crashed; not retried every pass
        return CRASHED
    return INTERRUPTED if interrupted else SUCCEEDED


def _run_of(error: PipelineError, runs_root: Path | str) -> RunDir | None:
    if not error.run_id:
        return None
    try:
        return RunDir(Path(runs_root) / error.run_id)
    except PipelineError:
        return None


def _report(run: RunDir) -> dict | None:
    try:
        return run_stage("report", run)
    except Exception:  # the run's outcome is known without it; the ledger still gets it
        return None


def _error_record(error: BaseException) -> dict:
    if isinstance(error, PipelineError):
        return {"code": error.code, "message": scrub_secrets(scrub_text(error.one_line()))[:500]}
    # A library's message may quote cell text or a connection string: drop what it quotes.
    return {"code": "internal-error",
            "message": scrub_secrets(f"{type(error).__name__}: {safe_reason(error, 300)}")}


def _archive(run: RunDir, archive, result: ObjectResult) -> None:
    """Copy the run's record to the archive; a failure is recorded, never undoes the run."""
    from .archive import archive_run

    try:
        result.archive_uri = archive_run(run, archive)["uri"]
    except PipelineError as error:
        result.archive_error = error.one_line()


def _move(client, info: ObjectInfo, prefix: str, outcome: str, run: RunDir | None, result: ObjectResult) -> None:
    """Copy the object (the exact version processed) and upload its report, both encrypted at rest.

    The destination is ``<parent of prefix>/<processed|rejected>/<run id>/<safe name>``: the
    untrusted key contributes only a safe file name. The original stays where it is (the ledger
    keeps it from being processed again): deleting it could lose an upload that landed meanwhile.
    """
    if run is None:
        return
    parent = prefix.rstrip("/").rpartition("/")[0]
    folder = f"{parent + '/' if parent else ''}{MOVE_FOLDERS[outcome]}/{run.run_id}/"
    target = folder + copy_name(info.key)
    report_key = folder + "report.json"
    copy_source = {"Bucket": info.bucket, "Key": info.key}
    if info.version_id:
        copy_source["VersionId"] = info.version_id
    try:
        client.copy_object(Bucket=info.bucket, Key=target, CopySource=copy_source,
                           ServerSideEncryption="AES256", MetadataDirective="COPY")
        result.moved_to = f"s3://{info.bucket}/{target}"
        report_file = run.path / "report" / "report.json"
        if report_file.is_file():
            client.put_object(Bucket=info.bucket, Key=report_key, Body=report_file.read_bytes(),
                              ContentType="application/json", ServerSideEncryption="AES256")
            result.report_uri = f"s3://{info.bucket}/{report_key}"
    except Exception as exc:  # noqa: BLE001 - a failed copy must not undo the recorded run
        try:
            _raise_storage(exc, client, f"s3://{info.bucket}/{target}")
            message = f"{type(exc).__name__}"
        except PipelineError as storage_error:
            message = storage_error.one_line()
        result.move_error = f"copy to {folder} failed: {message}"

