"""The five stages. Each module has one public function that the CLI, behave steps and tests call."""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

from ..errors import PipelineError
from ..redact import known_secrets, safe_reason, scrub_secrets, scrub_text
from ..rundir import RUNNING, SUCCEEDED, RunDir


def exclusive(stage: str, records: Callable[[dict], bool] = lambda kwargs: True) -> Callable:
    """Decorate a stage function ``f(run, ...)``: it runs holding the run directory
    (:meth:`RunDir.exclusive`), so two commands never work on one run directory at once.

    A rerun refused before it began (its input changed or is no longer good, validate rejected
    rows...) is recorded as failed like any other failed rerun, which marks the later stages
    stale: they must not go on from the outputs of the earlier good run. Unless ``records(kwargs)``
    says the call leaves the stage's record alone (a dry run).
    """
    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run_stage(run: RunDir, *args: Any, **kwargs: Any) -> Any:
            with holding(run, stage, records=records(kwargs)):
                return func(run, *args, **kwargs)
        return run_stage
    return decorate


@contextlib.contextmanager
def holding(run: RunDir, stage: str, *, records: bool = True) -> Iterator[None]:
    """What :func:`exclusive` does around one call, as a context: hold the run directory while
    ``stage`` runs, and record a refused rerun as failed (unless ``records`` is false). A command
    working on several runs at once (``migrate`` loads them in one transaction) holds each so."""
    with run.exclusive(stage):
        try:
            yield
        except PipelineError as error:
            # Only a stage that still stands needs it: pending never ran; failed and
            # stale stages already have every later stage stale. A purged run keeps its
            # history as it was: no stage can run on it again anyway.
            if run.status(stage) in (SUCCEEDED, RUNNING) and not run.manifest.get("purged_at") and records:
                error.stage = error.stage or stage
                error.run_id = error.run_id or run.run_id
                run.fail(stage, _safe(error.as_dict()))
            raise


@contextlib.contextmanager
def recorded(run: RunDir, stage: str) -> Iterator[None]:
    """Mark ``stage`` running; on an error record it as failed in the manifest and re-raise."""
    run.begin(stage)
    try:
        yield
    except PipelineError as error:
        error.stage = error.stage or stage
        error.run_id = error.run_id or run.run_id
        run.fail(stage, _safe(error.as_dict()))
        raise
    except BaseException as error:  # a bug or an interrupt: still leave an honest manifest
        kind = "interrupted" if isinstance(error, KeyboardInterrupt) else "internal-error"
        # A library's message may quote cell text or a connection string: drop what it quotes.
        message = scrub_secrets(f"{type(error).__name__}: {safe_reason(error, 500)}", known_secrets())
        run.fail(stage, {"code": kind, "message": message})
        raise


def _safe(error: dict) -> dict:
    secrets = known_secrets()
    return {k: scrub_secrets(scrub_text(v), secrets) if isinstance(v, str) else v for k, v in error.items()}


def layout_of(run: RunDir):
    """The dataset whose layout validate found in the run's file: the run's dataset, or one of
    its ``layouts`` (validate/summary.json names it)."""
    from ..datasets.registry import get_dataset
    from ..rundir import read_json

    dataset = get_dataset(run.dataset)
    try:
        found = read_json(run.path / "validate" / "summary.json").get("dataset")
    except (OSError, ValueError):
        return dataset
    return get_dataset(found) if found and found != dataset.name and found in dataset.layouts else dataset
