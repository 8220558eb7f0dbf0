"""Luigi tasks over the stages (``pip install 'ops-pipeline[luigi]'``): OPS's workflow runner.

One task per stage of :data:`ops_pipeline.pipeline.STAGES`, each calling the orchestrator as the
CLI does, over the same run directory::

    luigi --module ops_pipeline.luigi LoadBudgetWorkbook --source budget.xlsx --db sqlite:///ops.db \\
        --local-scheduler --run-date 2026-11-29T105300

The run id is derived from the parameters (dataset, the source's sha256 or its ``s3://`` URI, the
run date), so a task's target names its run directory before anything runs, and the same command
run twice does nothing the second time. A stage's target is complete only while the manifest says
the stage succeeded and its outputs still match their recorded sha256 (see :class:`StageTarget`).

A failed stage still leaves the run's report (as ``ops-pipeline run`` does) and fails its task with
:class:`StageFailed`, whose message is the one line the CLI prints; in a folder's graph it also
records the file's outcome in the ledger (:mod:`ops_pipeline.ledger`), as ``poll`` does.
:class:`ProcessFolder` requires one pipeline per new file of a folder or ``s3://`` prefix.

This module is named ``luigi`` inside the package; ``import luigi`` below is absolute (Python 3),
so it imports the library.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import luigi
from luigi.parameter import ParameterVisibility

from ops_pipeline.errors import ExitCode, IntegrityError, LimitExceeded, PipelineError, StageNotReady, UsageError
from ops_pipeline.errors import operator_line
from ops_pipeline.pipeline import DEFAULT_LOCK_WAIT, STAGES, Options, run_stage, start_run
from ops_pipeline.redact import remember_url
from ops_pipeline.rundir import MANIFEST, SUCCEEDED, RunDir, derived_run_id, sha256_file
from ops_pipeline.stages.fetch import DEFAULT_MAX_BYTES

RUNS_ENV = "OPS_PIPELINE_RUNS"
STAGE_NAMES = tuple(stage.name for stage in STAGES)
DEBUG_ENV = "OPS_PIPELINE_DEBUG"


class StageFailed(Exception):
    """A stage task failed. ``str()`` is the line the CLI prints after ``error:`` (secrets and
    PII scrubbed); ``exit_code`` is the CLI's exit code for the same failure."""

    def __init__(self, line: str, *, code: str, exit_code: ExitCode, run_id: str | None, run_dir: str | None):
        super().__init__(line)
        self.code = code
        self.exit_code = exit_code
        self.run_id = run_id
        self.run_dir = run_dir


# --------------------------------------------------------------------------------------------
# Targets


def stage_done(run_dir: Path, *stages: str) -> bool:
    """True when each of ``stages`` succeeded in the run at ``run_dir`` and its outputs still match
    their recorded sha256 (a stale, failed, tampered or purged stage is not done)."""
    if not (run_dir / MANIFEST).is_file():
        return False
    try:
        run = RunDir(run_dir)
        for stage in stages:
            if run.status(stage) != SUCCEEDED:
                return False
            run.verify_outputs(stage)
    except PipelineError:
        return False
    return True


class StageTarget(luigi.Target):
    """One stage of one run directory, as a Luigi target: it exists while that stage and every
    stage before it succeeded and their outputs match their recorded sha256. A stage whose
    inputs were tampered with is not done either: it reruns from the first stage that is not."""

    def __init__(self, run_dir: Path, stage: str):
        self.path = Path(run_dir)
        self.stage = stage

    def exists(self) -> bool:
        return stage_done(self.path, *STAGE_NAMES[:STAGE_NAMES.index(self.stage) + 1])

    def __str__(self) -> str:
        return f"{self.path} [{self.stage}]"


# --------------------------------------------------------------------------------------------
# Parameters shared by every task of one run


def _private(**kwargs) -> luigi.OptionalParameter:
    # Neither in the task id nor shown by luigid: a URL may carry a password.
    return luigi.OptionalParameter(default=None, significant=False, visibility=ParameterVisibility.PRIVATE, **kwargs)


class RunParameters(luigi.Task):
    """The options of ``ops-pipeline run``, as Luigi parameters (``--db`` and ``--endpoint-url``
    default to ``OPS_PIPELINE_DB_URL`` / VCAP_SERVICES and ``OPS_PIPELINE_S3_ENDPOINT_URL``)."""

    # Both required, checked in __init__: Luigi's own message for a missing parameter quotes every
    # other parameter given, --db's URL and its password included.
    source = luigi.Parameter(default="", description="A workbook's path or an s3://bucket/key URI.")
    run_date = luigi.DateSecondParameter(default=None, description="Names the run with the source "
                                                                   "(e.g. 2026-11-29T105300).")
    dataset = luigi.Parameter(default="budget-workbook", description="What kind of file the source is.")
    runs_root = luigi.Parameter(default=os.environ.get(RUNS_ENV) or "runs",
                                description=f"Folder of the run directories (default: ${RUNS_ENV} or ./runs).")
    #: A folder's file: its ledger location and version key (set by ProcessFolder); else None.
    location = luigi.OptionalParameter(default=None,
                                       description="The source's ledger location (set by ProcessFolder).")
    version = luigi.OptionalParameter(default=None, description="The source's version (set by ProcessFolder).")
    accept_rejects = luigi.BoolParameter(default=False,
                                         description="Load the valid rows even though some were rejected.")
    db = _private(description="Database URL (else OPS_PIPELINE_DB_URL, else cloud.gov VCAP_SERVICES).")
    endpoint_url = _private(description="S3-compatible endpoint (else OPS_PIPELINE_S3_ENDPOINT_URL).")
    reader = luigi.ChoiceParameter(choices=["auto", "calamine", "openpyxl"], default="auto", significant=False)
    max_bytes = luigi.IntParameter(default=int(os.environ.get("OPS_PIPELINE_MAX_BYTES") or DEFAULT_MAX_BYTES),
                                   significant=False)
    lock_wait = luigi.FloatParameter(default=DEFAULT_LOCK_WAIT, significant=False)
    size = luigi.IntParameter(default=-1, significant=False, description="The source's size (set by ProcessFolder).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        missing = [name for name, value in (("--source", self.source), ("--run-date", self.run_date)) if not value]
        if missing:
            raise UsageError(f"{type(self).__name__} needs {' and '.join(missing)}",
                             hint="e.g. --source budget.xlsx --run-date $(date -u +%Y-%m-%dT%H%M%S)")
        for url in (self.db, self.endpoint_url):
            remember_url(url)  # masked in every message, as the CLI masks its --db URL
        if self.endpoint_url is None:
            self.endpoint_url = os.environ.get("OPS_PIPELINE_S3_ENDPOINT_URL") or None

    # -- the run ------------------------------------------------------------------------------
    @functools.cached_property
    def source_checksum(self) -> str | None:
        """The local source's sha256 (None for an ``s3://`` source)."""
        if self.source.startswith("s3://"):
            return None
        if self.version and self.version.startswith("sha256:"):
            return self.version.split(":", 1)[1]
        path = Path(self.source)
        if not path.is_file():
            raise UsageError(f"{self.source}: no such file", hint="give the path of a workbook or an s3:// URI")
        return sha256_file(path)

    @functools.cached_property
    def run_id(self) -> str:
        """Derived from the dataset, the source (its sha256, or its URI) and the run date; in a
        folder's graph, from the file's ledger location and version (two files of one content are
        two runs)."""
        if self.location:
            identity = f"{self.location}@{self.version}"
        elif self.source_checksum is not None:
            identity = f"sha256:{self.source_checksum}"
        else:
            identity = self.source
        return derived_run_id(self.run_date, self.dataset, identity)

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_root).resolve() / self.run_id

    def options(self) -> Options:
        return Options(db_url=self.db, accept_rejects=self.accept_rejects, reader=self.reader,
                       lock_wait=self.lock_wait)

    def on_failure(self, exception: BaseException) -> str:
        # What luigid shows and mails: the one line, never a traceback quoting cell text.
        return str(exception) if isinstance(exception, StageFailed) else operator_line(exception)

    def _announce(self) -> None:
        # Shown on luigid's page beside the task.
        self.set_status_message(f"run {self.run_id} in {self.run_dir}")


class Stage(RunParameters):
    """A stage task: runs :func:`ops_pipeline.pipeline.run_stage` on the run directory."""

    stage: str = ""
    after: type | None = None

    def requires(self):
        return self.clone(self.after) if self.after is not None else []

    def output(self) -> StageTarget:
        return StageTarget(self.run_dir, self.stage)

    def run(self):
        self._announce()
        run = RunDir(self.run_dir) if (self.run_dir / MANIFEST).is_file() else None
        try:
            if run is None:
                raise StageNotReady(f"cannot run {self.stage}: run {self.run_id} was not fetched",
                                    stage=self.stage, run_id=self.run_id)
            self.run_on(run)
        except Exception as error:
            self.fail(run, error)

    def run_on(self, run: RunDir) -> None:
        run_stage(self.stage, run, self.options())

    def fail(self, run: RunDir | None, error: BaseException):
        """End the run as ``ops-pipeline run`` does (its report, the ledger's outcome), then raise
        :class:`StageFailed` with the CLI's line for ``error``."""
        if run is not None and self.stage != "report":
            try:
                run_stage("report", run, self.options())
            except Exception:  # noqa: BLE001 - the stage's own error is the one to report
                pass
        settle_ledger(self.db, self.run_id, error)
        code = error.code if isinstance(error, PipelineError) else "internal-error"
        exit_code = error.exit_code if isinstance(error, PipelineError) else ExitCode.RUN_FAILED
        failure = StageFailed(operator_line(error, urls=tuple(u for u in (self.db, self.endpoint_url) if u)),
                              code=code, exit_code=exit_code, run_id=self.run_id, run_dir=str(self.run_dir))
        if os.environ.get(DEBUG_ENV):
            raise failure from error
        raise failure from None


class Fetch(Stage):
    """Copy the source (a path or an ``s3://`` URI) into the run directory named by the run id."""

    stage = "fetch"

    def run(self):
        self._announce()
        run = None
        try:
            if self.location:
                self.claim()
            if self.source.startswith("s3://") and self.version:
                run = self.fetch_listed_version()
            else:
                run = start_run(self.source, self.runs_root, dataset=self.dataset, max_bytes=self.max_bytes,
                                endpoint_url=self.endpoint_url, run_id=self.run_id)
            fetched = run.manifest["source"].get("sha256")
            if self.source_checksum is not None and fetched != self.source_checksum:
                error = IntegrityError(f"{run.manifest['source'].get('name')} changed after this run was named "
                                       "from its sha256", stage="fetch", run_id=self.run_id,
                                       hint="run the command again: the new content makes a new run")
                run.fail("fetch", error.as_dict())
                raise error
            if self.location:
                self.record_fetched(run)
        except Exception as error:
            if run is None and (self.run_dir / MANIFEST).is_file():
                run = RunDir(self.run_dir)  # refused after the run directory was made (over the size limit)
            self.fail(run, error)

    def fetch_listed_version(self) -> RunDir:
        """The object version a folder's graph listed (its version id, else its ETag), not
        whatever the key holds now: the ledger records what was processed."""
        from ops_pipeline.ledger import version_key
        from ops_pipeline.sources.s3 import head
        from ops_pipeline.stages.fetch_s3 import fetch_s3, object_uri, s3_client

        bucket, key = object_uri(self.source)
        client = s3_client(self.endpoint_url)
        pinned = not self.version.startswith(("etag:", "sha256:", "sha256-of:"))
        info = head(client, bucket, key, version_id=self.version if pinned else None)
        if version_key(info.version_id, info.etag) != self.version:
            raise IntegrityError(f"{self.source} changed after it was listed", stage="fetch", run_id=self.run_id,
                                 hint="run the folder again: the new version is a new file")
        return fetch_s3(self.source, self.runs_root, dataset=self.dataset, max_bytes=self.max_bytes, client=client,
                        info=info, run_id=self.run_id)

    def record_fetched(self, run: RunDir) -> None:
        """A folder's file: the ledger row gets what was fetched (sha256, size, ETag, version)."""
        from ops_pipeline.ledger import Ledger

        source = run.manifest["source"]
        with Ledger(self.db) as ledger:
            entry = ledger.of_run(self.run_id)
            if entry is not None:
                ledger.fetched(entry, run_id=self.run_id, sha256=source.get("sha256"), size=source.get("size"),
                               etag=source.get("etag"), version_id=source.get("version_id"))

    def claim(self) -> None:
        """A folder's file: mark its version ``processing`` in the ledger under this run, as poll
        does before it fetches; refused when another worker claimed it meanwhile."""
        from ops_pipeline.ledger import Ledger

        size = self.size if self.size >= 0 else None
        with Ledger(self.db) as ledger:
            decision = ledger.decide(self.location, self.version, size=size, max_bytes=self.max_bytes)
            entry = None
            if decision.process:
                entry = ledger.claim(self.location, self.version, version_id=None, etag=None, size=size,
                                     seen=decision.entry)
            if entry is None:
                raise StageNotReady(f"{self.location} was processed or claimed by another worker meanwhile "
                                    f"({decision.reason})", stage="fetch", run_id=self.run_id)
            ledger.fetched(entry, run_id=self.run_id, sha256=self.source_checksum, size=size)


class Validate(Stage):
    stage, after = "validate", Fetch


class Transform(Stage):
    """Refused by the orchestrator, as for the CLI, when validate rejected rows that
    ``--accept-rejects`` did not accept."""

    stage, after = "transform", Validate


class Load(Stage):
    stage, after = "load", Transform


class Report(Stage):
    """The run's report. Complete when every stage of the run is (a report written after a failed
    stage does not complete the run; see :class:`StageTarget`)."""

    stage, after = "report", Load


class LoadBudgetWorkbook(luigi.WrapperTask, RunParameters):
    """All five stages on one budget workbook (the seed's command)."""

    def requires(self):
        return self.clone(Report)


# --------------------------------------------------------------------------------------------
# The ledger


def settle_ledger(db_url: str | None, run_id: str, error: BaseException | None) -> None:
    """Record how run ``run_id`` ended in the ledger row that a folder's graph claimed for it (as
    poll records it); nothing when no row names the run. A database that cannot be reached leaves
    the row ``processing``: the next run of the folder retries the file."""
    from ops_pipeline.ledger import PROCESSING, REFUSED, Ledger
    from ops_pipeline.poll import outcome_of

    outcome = REFUSED if isinstance(error, LimitExceeded) else outcome_of(error)
    try:
        with Ledger(db_url) as ledger:
            entry = ledger.of_run(run_id)
            if entry is not None and entry.outcome == PROCESSING:
                ledger.finish(entry, outcome)
    except PipelineError:
        pass


class ProcessFile(RunParameters):
    """One version of a folder's file through the five stages: its Fetch claims it in the ledger,
    a failed stage records the outcome there (``invalid``, ``failed``, ``crashed``...), and this
    task records ``succeeded`` once the report is done. Complete once the ledger holds a final
    outcome for that version, so it is processed exactly once whatever the run date."""

    def requires(self):
        return self.clone(Report)

    def complete(self) -> bool:
        from ops_pipeline.ledger import FINAL, Ledger

        with Ledger(self.db) as ledger:
            entry = ledger.get(self.location, self.version)
        return entry is not None and entry.outcome in FINAL

    def run(self):
        from ops_pipeline.ledger import PROCESSING, SUCCEEDED, Ledger

        self._announce()
        with Ledger(self.db) as ledger:
            entry = ledger.of_run(self.run_id)
            if entry is not None and entry.outcome == PROCESSING:
                ledger.finish(entry, SUCCEEDED)


class ProcessFolder(luigi.WrapperTask, RunParameters):
    """Every new file of a folder (``--source DIR``) or ``s3://`` prefix, one pipeline each. New
    means the ledger (``poll``'s) holds no final outcome for that version of the file: each file
    is processed exactly once, also across run dates and by ``poll``."""

    def requires(self):
        return [self.clone(ProcessFile, source=source, location=location, version=key, size=size)
                for source, location, key, size in self.new_files()]

    @property
    def run_id(self) -> str:  # a folder is many runs, one per file
        raise UsageError("ProcessFolder has no run of its own: each file's ProcessFile has one")

    def new_files(self) -> list[tuple[str, str, str, int]]:
        """``(source, ledger location, version key, size)`` of each file to process, oldest first."""
        from ops_pipeline.ledger import Ledger

        listed = self._listed()
        with Ledger(self.db) as ledger:
            return [item for item in listed
                    if ledger.decide(item[1], item[2], size=item[3], max_bytes=self.max_bytes).process]

    def _listed(self) -> list[tuple[str, str, str, int]]:
        from ops_pipeline.ledger import version_key

        if self.source.startswith("s3://"):
            from ops_pipeline.sources.s3 import head, list_objects
            from ops_pipeline.stages.fetch_s3 import prefix_uri, s3_client

            bucket, prefix = prefix_uri(self.source)
            client = s3_client(self.endpoint_url)
            found = []
            for listed in list_objects(client, bucket, prefix):
                info = head(client, bucket, listed.key)
                found.append((info.uri, info.uri, version_key(info.version_id, info.etag), info.size))
            return found
        folder = Path(self.source)
        if not folder.is_dir():
            raise UsageError(f"{self.source}: no such folder", hint="give a folder or an s3://bucket/prefix/")
        files = sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
                       key=lambda p: (p.stat().st_mtime, p.name))
        return [(str(p.resolve()), p.resolve().as_uri(), version_key(None, None, sha256_file(p)), p.stat().st_size)
                for p in files]


# --------------------------------------------------------------------------------------------
# A MAPS export


class MigrationTarget(luigi.Target):
    """A migration's folder (``<runs root>/migrations/<id>/``), complete once its report says the
    whole set was loaded."""

    def __init__(self, folder: Path):
        self.folder = folder

    def exists(self) -> bool:
        from ops_pipeline.rundir import read_json

        try:
            return read_json(self.folder / "report.json").get("status") == "loaded"
        except (OSError, ValueError):
            return False

    def __str__(self) -> str:
        return str(self.folder)


class MigrateMaps(luigi.Task):
    """A whole MAPS export (a folder or ``s3://`` prefix) through ``ops-pipeline migrate``: every
    file in its own run directory, all loaded in ONE transaction (so this is one task, not a task
    per file: a file's load cannot commit apart from the others)::

        luigi --module ops_pipeline.luigi MigrateMaps --source exports/2026-11/ --db "$DB" \\
            --local-scheduler --run-date 2026-11-29T105300

    The migration is named by the source and the run date (its folder under
    ``<runs root>/migrations/``); the same command run again after a success does nothing.
    """

    source = luigi.Parameter(default="", description="The export's folder or s3://bucket/prefix/.")
    run_date = luigi.DateSecondParameter(default=None, description="Names the migration with the source.")
    runs_root = luigi.Parameter(default=os.environ.get(RUNS_ENV) or "runs",
                                description=f"Folder of the run directories (default: ${RUNS_ENV} or ./runs).")
    accept_rejects = luigi.BoolParameter(default=False,
                                         description="Load the valid rows even though some files have rejected rows.")
    db = _private(description="Database URL (else OPS_PIPELINE_DB_URL, else cloud.gov VCAP_SERVICES).")
    endpoint_url = _private(description="S3-compatible endpoint (else OPS_PIPELINE_S3_ENDPOINT_URL).")
    max_bytes = luigi.IntParameter(default=int(os.environ.get("OPS_PIPELINE_MAX_BYTES") or DEFAULT_MAX_BYTES),
                                   significant=False)
    lock_wait = luigi.FloatParameter(default=DEFAULT_LOCK_WAIT, significant=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        missing = [name for name, value in (("--source", self.source), ("--run-date", self.run_date)) if not value]
        if missing:
            raise UsageError(f"MigrateMaps needs {' and '.join(missing)}",
                             hint="e.g. --source exports/ --run-date $(date -u +%Y-%m-%dT%H%M%S)")
        for url in (self.db, self.endpoint_url):
            remember_url(url)
        if self.endpoint_url is None:
            self.endpoint_url = os.environ.get("OPS_PIPELINE_S3_ENDPOINT_URL") or None

    @functools.cached_property
    def migration_id(self) -> str:
        return derived_run_id(self.run_date, "maps-migration", self.source)

    def output(self) -> MigrationTarget:
        from ops_pipeline.migrate import migrations_root

        return MigrationTarget(migrations_root(Path(self.runs_root).resolve()) / self.migration_id)

    def on_failure(self, exception: BaseException) -> str:
        return str(exception) if isinstance(exception, StageFailed) else operator_line(exception)

    def run(self):
        from ops_pipeline.migrate import migrate

        self.set_status_message(f"migration {self.migration_id} in {self.output()}")
        try:
            migration = migrate(self.source, runs_root=self.runs_root, db_url=self.db,
                                accept_rejects=self.accept_rejects, endpoint_url=self.endpoint_url,
                                max_bytes=self.max_bytes, lock_wait=self.lock_wait, migration_id=self.migration_id)
            error = migration.error
        except PipelineError as exc:  # before the migration's folder exists (the plan)
            error = exc
        if error is not None:
            failure = StageFailed(operator_line(error, urls=tuple(u for u in (self.db, self.endpoint_url) if u)),
                                  code=error.code, exit_code=error.exit_code, run_id=None,
                                  run_dir=str(self.output()))
            if os.environ.get(DEBUG_ENV):
                raise failure from error
            raise failure from None
