"""The one orchestrator: which stages there are, what each requires, and the order they run in.

    fetch → validate → (refused when validate rejected rows, unless accepted) → transform → load → report

:data:`STAGES` declares the stages as data, so that a scheduler (the Luigi adapter) can ask for
them and their requirements. :func:`run_stage` runs one stage on a run directory (a CLI stage
command, a behave step, a Luigi task); :func:`continue_run` runs the stages after fetch in order,
stopping at the first failure and always ending with the report; :func:`run_pipeline` fetches
first. ``run``, ``poll``, the behave steps and the stage commands all go through here, and the
refusal of rejected rows (:func:`refusal`) is decided here only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import rundir
from .errors import DataInvalid, ExitCode, PipelineError, UsageError
from .rundir import SUCCEEDED, RunDir
from .stages import exclusive
from .stages.fetch import DEFAULT_MAX_BYTES, fetch
from .stages.report import report
from .stages.transform import transform
from .stages.validate import validate

DEFAULT_LOCK_WAIT = 300.0


@dataclass(frozen=True)
class Options:
    """What the stages after fetch may be told: each stage reads the options it needs."""

    db_url: str | None = None
    accept_rejects: bool = False
    dry_run: bool = False
    reader: str = "auto"
    lock_wait: float = DEFAULT_LOCK_WAIT


@dataclass(frozen=True)
class Stage:
    """One stage: its name, the stages whose success it requires, and how it runs on a run
    directory (``None`` for fetch, which makes the run directory: see :func:`start_run`)."""

    name: str
    requires: tuple[str, ...]
    run: Callable[[RunDir, Options], Any] | None
    #: Runs once its requirements have run, whatever their outcome: the report of a failed run.
    always: bool = False


@dataclass
class Outcome:
    run: RunDir
    report: dict | None
    #: The error that stopped the run (a PipelineError; with ``contain``, any exception).
    error: BaseException | None = None
    #: The stop request was seen before a stage began: the run is unfinished, not failed.
    interrupted: bool = False

    @property
    def exit_code(self) -> ExitCode:
        if isinstance(self.error, PipelineError):
            return self.error.exit_code
        if self.error is not None:
            return ExitCode.RUN_FAILED
        return ExitCode.OK


def refusal(run: RunDir, options: Options) -> DataInvalid | None:
    """Why the run goes no further than validate: validate rejected rows and they were not
    accepted (``options.accept_rejects``); None when it may go on."""
    info = run.stage_info("validate")
    if info.get("status") != SUCCEEDED or info.get("outcome", "valid") == "valid" or options.accept_rejects:
        return None
    rejected = info.get("counts", {}).get("rejected", 0)
    return DataInvalid(
        f"validate rejected {rejected} row{'s' if rejected != 1 else ''}; nothing is transformed or loaded",
        stage="validate", run_id=run.run_id, hint="fix the file, or load the valid rows with --accept-rejects",
    )


def _validate(run: RunDir, options: Options) -> dict:
    return validate(run, reader=options.reader)


@exclusive("transform")
def _transform(run: RunDir, options: Options) -> dict:
    # Inside the transform stage's hold: a refused rerun is recorded as failed like any failed
    # rerun, so the load of an earlier, accepted transform no longer stands.
    error = refusal(run, options)
    if error is not None:
        raise error
    return transform(run, accept_rejects=options.accept_rejects)


def _load(run: RunDir, options: Options) -> dict:
    # Imported here: the load brings SQLAlchemy and OPS's ORM (about a second), which fetch,
    # validate, transform and report run without.
    from .stages.load import load

    return load(run, db_url=options.db_url, dry_run=options.dry_run, lock_wait=options.lock_wait,
                accept_rejects=options.accept_rejects)


def _report(run: RunDir, options: Options) -> dict:
    return report(run)


STAGES: tuple[Stage, ...] = (
    Stage("fetch", requires=(), run=None),
    Stage("validate", requires=("fetch",), run=_validate),
    Stage("transform", requires=("validate",), run=_transform),
    Stage("load", requires=("transform",), run=_load),
    Stage("report", requires=("load",), run=_report, always=True),
)

# The run directory keeps a status per stage, in this order (later stages go stale): one list.
if tuple(stage.name for stage in STAGES) != rundir.STAGES:  # pragma: no cover - caught at import
    raise ImportError("pipeline.STAGES and rundir.STAGES name different stages")


def stage(name: str) -> Stage:
    for candidate in STAGES:
        if candidate.name == name:
            return candidate
    raise UsageError(f"unknown stage {name!r} (stages: {', '.join(s.name for s in STAGES)})")


def start_run(source: str, runs_root: Path | str, *, dataset: str = "auto",
              max_bytes: int = DEFAULT_MAX_BYTES, endpoint_url: str | None = None,
              run_id: str | None = None) -> RunDir:
    """The fetch stage: copy ``source`` into a new run directory (named ``run_id`` when given, as
    a scheduler names it; fetched again when it exists). Errors before the run directory exists
    raise."""
    return fetch(source, runs_root, dataset=dataset, max_bytes=max_bytes, endpoint_url=endpoint_url,
                 run_id=run_id)


def run_stage(name: str, run: RunDir, options: Options = Options()) -> Any:
    """Run one stage on ``run`` (what the stage returns); its failure raises, recorded in the run."""
    step = stage(name)
    if step.run is None:
        raise UsageError(f"{name} starts a run rather than running on one: use start_run")
    return step.run(run, options)


def continue_run(run: RunDir, options: Options = Options(), *, stop: Callable[[], bool] | None = None,
                 contain: bool = False) -> Outcome:
    """The stages after fetch in order, stopping at the first that fails, then the report.

    ``stop`` is asked before each stage begins (a poller's shutdown request): when it says so, no
    further stage begins and the outcome is ``interrupted``. With ``contain``, an unexpected
    exception (a bug, a crashed reader) is the outcome's error instead of propagating, and a
    report that cannot be made is None: one bad file must not stop a poller.
    """
    error: BaseException | None = None
    interrupted = False
    try:
        for step in STAGES:
            if step.run is None or step.always:
                continue
            if stop is not None and stop():
                interrupted = True
                break
            step.run(run, options)
    except PipelineError as exc:
        error = exc
    except Exception as exc:
        if not contain:
            raise
        error = exc
    data = None
    for step in STAGES:
        if step.always:
            try:
                data = step.run(run, options)
            except Exception:
                if not contain:
                    raise
    return Outcome(run=run, report=data, error=error, interrupted=interrupted)


def run_pipeline(source: str, *, runs_root: Path | str, db_url: str | None = None, dataset: str = "auto",
                 accept_rejects: bool = False, dry_run: bool = False, reader: str = "auto",
                 max_bytes: int = DEFAULT_MAX_BYTES, endpoint_url: str | None = None,
                 lock_wait: float = DEFAULT_LOCK_WAIT) -> Outcome:
    """fetch → validate → transform → load → report. Errors before a run directory exists raise."""
    run = start_run(source, runs_root, dataset=dataset, max_bytes=max_bytes, endpoint_url=endpoint_url)
    return continue_run(run, Options(db_url=db_url, accept_rejects=accept_rejects, dry_run=dry_run, reader=reader,
                                     lock_wait=lock_wait))
