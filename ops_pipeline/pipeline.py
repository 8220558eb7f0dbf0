"""All five stages in order, stopping at the first failed one and always ending with the report."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import DataInvalid, ExitCode, PipelineError
from .rundir import RunDir
from .stages.fetch import DEFAULT_MAX_BYTES, fetch
from .stages.load import load
from .stages.report import report
from .stages.transform import transform
from .stages.validate import validate


@dataclass
class Outcome:
    run: RunDir
    report: dict
    error: PipelineError | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            return self.error.exit_code
        return ExitCode.OK


def run_pipeline(source: str, *, runs_root: Path | str, db_url: str | None = None, dataset: str = "budget-workbook",
                 accept_rejects: bool = False, dry_run: bool = False, reader: str = "auto",
                 max_bytes: int = DEFAULT_MAX_BYTES, endpoint_url: str | None = None) -> Outcome:
    """fetch → validate → transform → load → report. Errors before a run directory exists raise."""
    run = fetch(source, runs_root, dataset=dataset, max_bytes=max_bytes, endpoint_url=endpoint_url)
    error: PipelineError | None = None
    try:
        summary = validate(run, reader=reader)
        if summary["outcome"] != "valid" and not accept_rejects:
            rejected = summary["rows"]["rejected"]
            raise DataInvalid(
                f"validate rejected {rejected} row{'s' if rejected != 1 else ''}; nothing was loaded",
                stage="validate", run_id=run.run_id,
                hint="fix the file, or load the valid rows with --accept-rejects",
            )
        transform(run, accept_rejects=accept_rejects)
        load(run, db_url=db_url, dry_run=dry_run)
    except PipelineError as exc:
        error = exc
    data = report(run)
    return Outcome(run=run, report=data, error=error)
