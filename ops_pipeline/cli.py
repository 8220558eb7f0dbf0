"""The command line: parse options, call one library function, render what comes back.

Errors are handled in one place (:class:`PipelineGroup`): a one-line message on stderr and the
exit code from ``errors.ExitCode``; ``--debug`` adds the traceback.
"""
from __future__ import annotations

import functools
import json
import math
import traceback
import warnings
from pathlib import Path

import click

from . import __version__
from .errors import ExitCode, PipelineError, UsageError, operator_line
from .printable import printable, printable_data
from .redact import known_secrets, remember_url, safe_reason, scrub_data, scrub_secrets, scrub_text

RUNS_ENV = "OPS_PIPELINE_RUNS"
#: The longest --lock-wait: PostgreSQL's lock_timeout holds at most ~24 days, and a load that
#: waits longer than a day for another is stuck, not patient.
LOCK_WAIT_MAX = 24 * 3600.0


class PipelineGroup(click.Group):
    """The Click group with the one error handler of the CLI."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except PipelineError as error:
            _debug_traceback(ctx, error)
            _error_line(ctx, _operator_line(ctx, error), error.code, error.exit_code,
                        run_id=error.run_id, stage=error.stage)
            ctx.exit(int(error.exit_code))
        except KeyboardInterrupt as error:
            _error_line(ctx, _operator_line(ctx, error), "interrupted", ExitCode.RUN_FAILED)
            ctx.exit(int(ExitCode.RUN_FAILED))
        except Exception as error:  # a bug: still one line unless --debug
            _debug_traceback(ctx, error)
            _error_line(ctx, _operator_line(ctx, error), "internal-error", ExitCode.RUN_FAILED)
            ctx.exit(int(ExitCode.RUN_FAILED))


def _operator_line(ctx: click.Context, error: BaseException) -> str:
    # The one wording of an error, shared with the Luigi tasks' failures (secrets and PII scrubbed).
    return operator_line(error, urls=tuple((ctx.obj or {}).get("secret_urls", ())))


def _error_line(ctx: click.Context, message: str, code: str, exit_code: ExitCode, **where) -> None:
    """The one line that ends a failed command: ``error: ...``, or with ``--log-format json`` a
    JSON object with the error's code, message and exit code."""
    if (ctx.obj or {}).get("log_format") == "json":
        from .rundir import utcnow

        _json_log_line(ctx, {"time": utcnow(), **{k: v for k, v in where.items() if v}, "event": "error",
                             "level": "error", "error": {"code": code, "message": message},
                             "exit_code": int(exit_code)})
    else:
        click.echo(f"error: {_safe_text(ctx, message)}", err=True)


def _safe_text(ctx: click.Context, text: str, *, lines: bool = False) -> str:
    """Text for the terminal: no known secret (database password, S3 or SMTP secret, webhook
    secret) and no e-mail address, phone number or SSN."""
    urls = tuple((ctx.obj or {}).get("secret_urls", ()))
    # A file or sheet name quoted in a message is shown with its control characters escaped.
    return printable(scrub_secrets(scrub_text(text), known_secrets(urls=urls)), lines=lines)


def _debug_traceback(ctx: click.Context, error: BaseException) -> None:
    """The traceback for --debug: frames as usual, but each exception's message is the one-line
    message of a PipelineError or the library's message without what it quotes (cell text, a
    connection string), and known secrets are masked."""
    if not (ctx.obj or {}).get("debug"):
        return
    chain, seen, current = [], set(), error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts = []
    for index, exc in enumerate(reversed(chain)):
        if index:
            parts.append("\nThe above exception led to the following one:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(exc.__traceback__))
        message = exc.one_line() if isinstance(exc, PipelineError) else safe_reason(exc, 1000)
        parts.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {message}\n")
    click.echo(_safe_text(ctx, "".join(parts), lines=True), err=True, nl=False)


def _remember_secret_url(ctx: click.Context, _param, value):
    """The --db URL's password is a secret to mask in every message, traceback and file. The URL
    is checked and normalised here, so a command refuses a bad one before it does any work."""
    if value:
        remember_url(value)
        root = ctx.find_root()
        if isinstance(root.obj, dict):
            root.obj.setdefault("secret_urls", []).append(value)
        authority = value.split("://", 1)[-1].split("/", 1)[0]
        if authority.count("@") > 1:
            # A parser would split the password at an "@": part of it would become the host
            # name, shown in messages and sent to DNS. Refuse without echoing the URL.
            raise click.BadParameter("the password holds an unencoded '@': percent-encode it as %40 "
                                     "(and '/' as %2F, ':' as %3A)", ctx=ctx, param=_param)
        from .db.engine import normalise_url

        value = normalise_url(value)
    return value


def _json_out(data) -> None:
    click.echo(json.dumps(scrub_data(data), indent=2, default=str))


# -- shared options ------------------------------------------------------------------------------

def db_option(func):
    return click.option("--db", "db_url", metavar="URL", envvar="OPS_PIPELINE_DB_URL", show_envvar=True,
                        callback=_remember_secret_url,
                        help="Database URL, e.g. sqlite:///ops.db or postgresql+psycopg://host/db "
                             "(else cloud.gov VCAP_SERVICES).")(func)


class DatasetName(click.ParamType):
    """A registered dataset's name, refused at once, with validate's message, when unknown."""

    name = "dataset"

    def get_metavar(self, param, *args, **kwargs) -> str:
        return "NAME"

    def convert(self, value, param, ctx):
        from .datasets.registry import get_dataset

        if value != "auto":
            get_dataset(value)  # raises the UsageError validate would raise
        return value


class Seconds(click.FloatRange):
    """Seconds from 0 to ``max``; ``nan`` (which every range check lets through) is refused."""

    name = "number of seconds"

    def __init__(self, max: float) -> None:
        super().__init__(0, max)

    def convert(self, value, param, ctx):
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


def dataset_option(help_text: str):
    return click.option("--dataset", type=DatasetName(), default="auto", show_default=True,
                        help=help_text + " auto: a workbook is a budget workbook; a MAPS export (.tsv) is "
                        "recognised from its header row.")


def max_bytes_option(help_text: str):
    # At least one byte; above 2**63 - 1 a size fits no file system and no database column.
    return click.option("--max-bytes", type=click.IntRange(1, 2**63 - 1), envvar="OPS_PIPELINE_MAX_BYTES",
                        default=100 * 1024 * 1024, show_default=True, show_envvar=True, help=help_text)


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")(func)


def reader_option(func):
    return click.option("--reader", type=click.Choice(["auto", "calamine", "openpyxl"]), default="auto",
                        show_default=True, help="Workbook reader (auto: calamine, openpyxl where needed).")(func)


def _remember_endpoint_url(_ctx: click.Context, _param, value):
    """An endpoint URL may carry credentials too: masked like the --db URL's."""
    remember_url(value)
    return value


def endpoint_option(func):
    return click.option("--endpoint-url", metavar="URL", envvar="OPS_PIPELINE_S3_ENDPOINT_URL", show_envvar=True,
                        callback=_remember_endpoint_url,
                        help="S3-compatible endpoint (else the VCAP_SERVICES s3 binding's, else AWS's).")(func)


def notify_option(func):
    return click.option("--notify", "notify_channels", multiple=True, metavar="CHANNELS",
                        help="Send the run's outcome (no data, only counts and codes): email, webhook or "
                             "email,webhook; configured by OPS_PIPELINE_SMTP_* / OPS_PIPELINE_WEBHOOK_*.")(func)


def _notify_targets(channels):
    from .notify import parse_notify_targets

    return parse_notify_targets(channels)


def _show_notified(outcomes: list[dict]) -> bool:
    for outcome in outcomes:
        state = "sent" if outcome["ok"] else f"failed: {outcome['error']}"
        _log_line(click.get_current_context(), f"notify {outcome['channel']}: {state}",
                  "notified" if outcome["ok"] else "notify-failed", level="info" if outcome["ok"] else "warning",
                  channel=outcome["channel"], **({} if outcome["ok"] else {"error": {"message": outcome["error"]}}))
    return all(outcome["ok"] for outcome in outcomes)


def _notify_run(data: dict, targets) -> bool:
    """Send the run's notification to ``targets``; print each outcome; True if all were sent."""
    if not targets:
        return True
    from .poll import send_notification

    return _show_notified(send_notification(data, targets))


def _notify_failed():
    from .errors import NotifyError

    return NotifyError("the notification could not be sent",
                       hint="check the OPS_PIPELINE_SMTP_* / OPS_PIPELINE_WEBHOOK_* settings")


def archive_option(func):
    """``--archive URI`` and ``--archive-data``, shared by every command that makes runs (run,
    poll, and migrate when it comes): the command receives ``archive``, an
    :class:`ops_pipeline.archive.Archive` or None."""
    @click.option("--archive", "archive_uri", metavar="S3_PREFIX", envvar="OPS_PIPELINE_ARCHIVE", show_envvar=True,
                  help="Copy each finished run's manifest, reports, event log and rejected rows (row numbers "
                       "and codes) there, server-side encrypted, so the audit trail outlives the disk.")
    @click.option("--archive-data", is_flag=True, envvar="OPS_PIPELINE_ARCHIVE_DATA", show_envvar=True,
                  help="Archive the staged data and the source file too (they hold PII).")
    @functools.wraps(func)
    def wrapper(archive_uri, archive_data, **kwargs):
        return func(archive=_archive(archive_uri, kwargs.get("endpoint_url"), include_data=archive_data), **kwargs)
    return wrapper


def archive_read_option(func):
    return click.option("--archive", "archive_uri", metavar="S3_PREFIX", envvar="OPS_PIPELINE_ARCHIVE",
                        show_envvar=True, help="Also look in this archive (see run --archive).")(func)


def _archive(uri: str | None, endpoint_url: str | None = None, *, include_data: bool = False):
    if not uri:
        if include_data:
            raise UsageError("--archive-data needs --archive S3_PREFIX")
        return None
    from .archive import Archive

    return Archive.from_uri(uri, include_data=include_data, endpoint_url=endpoint_url)


def _archive_finished(run, archive) -> bool:
    """Archive ``run`` when asked; print where, or why not. True unless archiving failed."""
    if archive is None:
        return True
    from .archive import archive_run

    try:
        result = archive_run(run, archive)
    except PipelineError as error:
        _log_line(click.get_current_context(), f"archive: {error.one_line()}", "archive-failed", level="warning",
                  run_id=run.run_id, error={"code": error.code, "message": error.one_line()})
        return False
    _log_line(click.get_current_context(), f"archived run {result['run_id']} to {result['uri']}", "archived",
              run_id=result["run_id"], uri=result["uri"])
    return True


def run_argument(func):
    @click.argument("run_dir", metavar="RUN")
    @functools.wraps(func)
    def wrapper(run_dir, **kwargs):
        return func(run=_open_run(run_dir), **kwargs)
    return wrapper


def _open_run(value: str):
    from .rundir import RunDir

    ctx = click.get_current_context()
    path = Path(value)
    if not (path / "manifest.json").is_file():
        candidate = Path(ctx.obj["runs_root"]) / value
        if (candidate / "manifest.json").is_file():
            path = candidate
    return RunDir(path)


# -- the group -----------------------------------------------------------------------------------

@click.group(cls=PipelineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ops-pipeline")
@click.option("--runs-root", metavar="DIR", envvar=RUNS_ENV, default="runs", show_default=True,
              show_envvar=True, help="Folder that holds the run directories.")
@click.option("--debug", is_flag=True, envvar="OPS_PIPELINE_DEBUG", help="Show tracebacks of errors.")
@click.option("-q", "--quiet", is_flag=True, help="Do not show stage events on the terminal.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="OPS_PIPELINE_LOG_FORMAT", show_envvar=True,
              help="Stage events on stderr as text, or as one JSON object a line (for a log service); "
                   "json also turns errors into JSON lines and shows no progress bars.")
@click.pass_context
def cli(ctx: click.Context, runs_root: str, debug: bool, quiet: bool, log_format: str) -> None:
    """ops-pipeline: budget spreadsheets and MAPS exports into the OPS database.

    Stages: fetch → validate → transform → load → report, each over a run directory that you can
    inspect, rerun or chain. `run` does all five. Exit codes: 0 success, 1 data invalid,
    2 usage error, 3 run failed.
    """
    from .rundir import check_runs_root

    ctx.ensure_object(dict)
    ctx.obj.update({"runs_root": runs_root, "debug": debug, "log_format": log_format, "quiet": quiet})
    check_runs_root(runs_root)
    if not debug:
        # openpyxl warns about workbook parts it drops (extensions, odd headers and footers): noise
        # to an operator, as it concerns nothing validate reads. --debug shows them.
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
    _show_progress(None)
    if log_format == "json":
        _show_events(json_lines=True)  # -q too: a log service wants every stage event
    elif not quiet:
        _show_progress(_show_events())
    else:
        _hide_events()


def _hide_events() -> None:
    """-q: no terminal listener left over from an earlier invocation in this process."""
    from . import rundir

    rundir.EVENT_LISTENERS[:] = [f for f in rundir.EVENT_LISTENERS if not getattr(f, "cli_terminal", False)]


def _show_progress(console) -> None:
    """Progress bars on ``console`` when it is a terminal, for this command only; none when piped
    (or ``console`` None)."""
    from . import progress

    if console is not None and console.is_terminal and not console.is_dumb_terminal:
        progress.show_with(progress.RichDisplay(console))
        click.get_current_context().call_on_close(lambda: progress.show_with(None))
    else:
        progress.show_with(None)


def _show_events(json_lines: bool = False):
    """Show stage events on stderr (text for people, or JSON lines); returns the text console."""
    from rich.console import Console

    from rich.markup import escape

    from . import rundir

    import os

    if json_lines:
        show = _json_event_writer()
        show.cli_terminal = True
        _hide_events()
        rundir.EVENT_LISTENERS.append(show)
        return None

    # NO_COLOR (https://no-color.org): no escape codes at all, dim and bold included.
    plain = bool(os.environ.get("NO_COLOR"))
    console = Console(stderr=True, highlight=False, no_color=plain, color_system=None if plain else "auto")

    def show(event: dict) -> None:
        fields = {k: v for k, v in event.items() if k not in ("time", "stage", "level", "event", "run_id")}
        detail = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())
        style = {"error": "red", "warning": "yellow"}.get(event["level"], "dim")
        # Event fields can quote file and sheet names: escape them so "[/x]" is text, not markup.
        console.print(f"[{style}]{event['stage']:>9} {event['event']}[/] {escape(scrub_text(detail))}",
                      markup=True, soft_wrap=True)

    show.cli_terminal = True
    _hide_events()
    rundir.EVENT_LISTENERS.append(show)
    return console


def _json_event_writer():
    """A listener writing each stage event as one JSON object a line on stderr: time, run id,
    stage, event, level, then the event's fields (counts, the error's code and one-line message),
    and the stage's duration in seconds when it ends. Known secrets and PII are masked as in every
    other message."""
    import time

    started: dict = {}

    def write(event: dict) -> None:
        ctx = click.get_current_context(silent=True)
        key = (event.get("run_id"), event["stage"])
        if event["event"] == "stage-started":
            started[key] = time.monotonic()
        record = {"time": event["time"], "run_id": event.get("run_id"), "stage": event["stage"],
                  "event": event["event"], "level": event["level"],
                  **{k: v for k, v in event.items() if k not in ("time", "run_id", "stage", "event", "level")}}
        if event["event"] in ("stage-succeeded", "stage-failed") and key in started:
            record["duration_s"] = round(time.monotonic() - started.pop(key), 3)
        _json_log_line(ctx, record)

    return write


def _log_line(ctx: click.Context, text: str, event: str, level: str = "info", **fields) -> None:
    """A line for the operator on stderr: ``text``, or with ``--log-format json`` an event record."""
    if (ctx.obj or {}).get("log_format") == "json":
        from .rundir import utcnow

        _json_log_line(ctx, {"time": utcnow(), "event": event, "level": level, **fields})
    else:
        click.echo(_safe_text(ctx, text), err=True)


def _json_log_line(ctx, record: dict) -> None:
    """One JSON object on one line of stderr. Each string is scrubbed (secrets, PII) and its control
    and bidi characters escaped before encoding: done to the encoded line, an escape like ``\\x1b``
    would make it invalid JSON, and a secret holding a quote would be missed in its escaped form."""
    urls = tuple(((ctx.obj or {}) if ctx is not None else {}).get("secret_urls", ()))
    safe = printable_data(scrub_data(record, secrets=known_secrets(urls=urls)))
    click.echo(json.dumps(safe, ensure_ascii=False, default=str), err=True)


# -- stage commands ------------------------------------------------------------------------------

@cli.command()
@click.argument("source")
@dataset_option("What kind of file SOURCE is.")
@max_bytes_option("Refuse sources larger than this many bytes.")
@endpoint_option
@click.option("--next", "take_next", is_flag=True,
              help="SOURCE is an s3:// prefix: fetch its oldest object not yet processed (per the ledger in --db).")
@db_option
@click.pass_context
def fetch(ctx: click.Context, source: str, dataset: str, max_bytes: int, endpoint_url: str | None,
          take_next: bool, db_url: str | None) -> None:
    """Copy SOURCE (a path or s3://bucket/key) into a new run directory.

    Prints the run directory's path on stdout and nothing else, so that
    RUN=$(ops-pipeline fetch budget.xlsx) works. With --next and nothing new under the prefix it
    prints nothing, says so on stderr and exits 0.
    """
    from .pipeline import start_run
    from .stages.fetch_s3 import fetch_next

    if take_next:
        run = fetch_next(source, ctx.obj["runs_root"], db_url=db_url, dataset=dataset, max_bytes=max_bytes,
                         endpoint_url=endpoint_url)
        if run is None:
            click.echo(f"nothing new under {source}", err=True)
            return
    else:
        run = start_run(source, ctx.obj["runs_root"], dataset=dataset, max_bytes=max_bytes, endpoint_url=endpoint_url)
    click.echo(str(run.path))


@cli.command()
@run_argument
@reader_option
@json_option
def validate(run, reader: str, as_json: bool) -> None:
    """Check every cell of the fetched file; write valid rows, rejected rows and findings.

    Exits 1 when any row is rejected or required columns are missing.
    """
    from .pipeline import Options, refusal, run_stage

    summary = run_stage("validate", run, Options(reader=reader))
    if as_json:
        _json_out(summary)
    else:
        rows = summary["rows"]
        sheet = f" from sheet {scrub_text(str(summary['sheet']))!r}" if summary.get("sheet") else ""
        click.echo(f"{rows['read']} rows read{sheet}: {rows['valid']} valid, {rows['rejected']} rejected, "
                   f"{rows['skipped']} skipped", err=True)
        for code, count in sorted(summary["findings"].items()):
            click.echo(f"  {code}: {count}", err=True)
    error = refusal(run, Options())
    if error is not None:
        raise error


@cli.command()
@run_argument
@click.option("--accept-rejects", is_flag=True, help="Transform the valid rows even though some were rejected.")
@json_option
def transform(run, accept_rejects: bool, as_json: bool) -> None:
    """Apply the business rules: projects, CANs, agreements and budget lines with lineage."""
    from .pipeline import Options, run_stage

    summary = run_stage("transform", run, Options(accept_rejects=accept_rejects))
    if as_json:
        _json_out(summary)
    else:
        counts = ", ".join(f"{v} {k}" for k, v in summary["counts"].items())
        click.echo(f"entities: {counts}", err=True)
        if summary["cans_without_portfolio"]:
            click.echo("CANs needing a portfolio decision: "
                       + ", ".join(c["number"] for c in summary["cans_without_portfolio"]), err=True)


@cli.command()
@run_argument
@db_option
@click.option("--dry-run", is_flag=True, help="Do everything, report the counts, then roll back.")
@click.option("--lock-wait", type=Seconds(LOCK_WAIT_MAX), default=300.0, show_default=True,
              metavar="SECONDS", help="Seconds to wait for another load to finish (0: do not wait; at most a day).")
@click.option("--accept-rejects", is_flag=True,
              help="Load what OPS can take when it cannot take some records as they are (see the findings).")
@json_option
def load(run, db_url: str | None, dry_run: bool, lock_wait: float, accept_rejects: bool, as_json: bool) -> None:
    """Write the entities to the database in one transaction, idempotently."""
    from .pipeline import Options, run_stage

    result = run_stage("load", run, Options(db_url=db_url, dry_run=dry_run, lock_wait=lock_wait,
                                            accept_rejects=accept_rejects))
    if as_json:
        _json_out(result)
    else:
        for kind, counts in result["entities"].items():
            left = "".join(f", {counts[k]} {k}" for k in ("skipped", "rejected") if counts.get(k))
            click.echo(f"{kind}: {counts['inserted']} inserted, {counts['updated']} updated, "
                       f"{counts['unchanged']} unchanged{left}", err=True)
        warned = sum(n for code, n in result.get("findings", {}).items())
        if warned:
            click.echo(f"findings: {', '.join(f'{n} {code}' for code, n in result['findings'].items())} "
                       "(see the report)", err=True)
        if dry_run:
            click.echo("dry run: rolled back, nothing written", err=True)


def _terminal_width() -> int | None:
    """The terminal's width when the report goes to one; None for a file or pipe (no wrapping)."""
    import shutil
    import sys

    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _echo_report(text: str) -> None:
    text = scrub_text(text)
    click.echo(text, nl=not text.endswith("\n"))


def format_option(func):
    return click.option("--format", "fmt", type=click.Choice(["text", "json", "md", "html"]), default="text",
                        show_default=True, help="Report format (html: one self-contained page).")(func)


@cli.command()
@click.argument("run_dir", metavar="RUN")
@format_option
@notify_option
@archive_read_option
@endpoint_option
def report(run_dir: str, fmt: str, notify_channels: tuple[str, ...], archive_uri: str | None,
           endpoint_url: str | None) -> None:
    """Summarise the run (stages, rows, findings, entities, decisions needed).

    RUN is a run directory or a run id. With --archive, a run whose directory is gone (an app
    restarted on cloud.gov) is read from the archive. With --notify, also send the outcome;
    exits 3 if a notification could not be sent.
    """
    from .pipeline import run_stage
    from .stages.report import render

    targets = _notify_targets(notify_channels)
    try:
        run = _open_run(run_dir)
    except UsageError:
        if not archive_uri:
            raise
        from .archive import read_archived_report

        data = read_archived_report(_archive(archive_uri, endpoint_url), run_dir)
    else:
        data = run_stage("report", run)
    _echo_report(render(data, fmt, _terminal_width()))
    if not _notify_run(data, targets):
        raise _notify_failed()


@cli.command("run")
@click.argument("source")
@db_option
@dataset_option("What kind of file SOURCE is.")
@click.option("--accept-rejects", is_flag=True, help="Load the valid rows even though some were rejected.")
@click.option("--dry-run", is_flag=True, help="Load and roll back: the counts of a real load, nothing written.")
@reader_option
@format_option
@max_bytes_option("Refuse sources larger than this many bytes.")
@endpoint_option
@notify_option
@archive_option
@click.pass_context
def run_command(ctx, source, db_url, dataset, accept_rejects, dry_run, reader, fmt, max_bytes, endpoint_url,
                notify_channels, archive) -> None:
    """Run all five stages on SOURCE, stopping at the first failure; always ends with the report."""
    from .pipeline import run_pipeline
    from .stages.report import render

    targets = _notify_targets(notify_channels)
    outcome = run_pipeline(source, runs_root=ctx.obj["runs_root"], db_url=db_url, dataset=dataset,
                           accept_rejects=accept_rejects, dry_run=dry_run, reader=reader, max_bytes=max_bytes,
                           endpoint_url=endpoint_url)
    _echo_report(render(outcome.report, fmt, _terminal_width()))
    notified = _notify_run(outcome.report, targets)
    archived = _archive_finished(outcome.run, archive)
    if outcome.error is not None:
        raise outcome.error
    if not notified:
        raise _notify_failed()
    if not archived:
        ctx.exit(int(ExitCode.RUN_FAILED))


@cli.command()
@click.argument("source", metavar="S3_PREFIX")
@db_option
@click.option("--every", metavar="INTERVAL",
              help="Poll every INTERVAL (30s, 5m, 1h; 1s to 24h) until SIGTERM or Ctrl-C.")
@click.option("--once", is_flag=True, help="Make one pass and exit (for cron and CI).")
@dataset_option("What kind of file each object is.")
@click.option("--accept-rejects", is_flag=True, help="Load the valid rows of files that have rejected rows.")
@notify_option
@click.option("--move", is_flag=True, help="Copy each finished object, with its report (server-side encrypted), "
                                           "to processed/ or rejected/ next to S3_PREFIX.")
@max_bytes_option("Refuse objects larger than this many bytes (recorded as refused, not downloaded).")
@endpoint_option
@reader_option
@json_option
@archive_option
@click.pass_context
def poll(ctx, source, db_url, every, once, dataset, accept_rejects, notify_channels, move, max_bytes, endpoint_url,
         reader, as_json, archive) -> None:
    """Process each new object under S3_PREFIX through all five stages, once, oldest first.

    The ledger in the database (see `db init`) records every object version and its outcome: a
    version is processed once (a failed run is retried on the next pass); content already loaded
    is not loaded again, even under another name; a new upload of an invalid file is validated
    again. One bad file never stops the others. SIGTERM or Ctrl-C lets the
    running stage finish, records the file as interrupted (the next start retries it) and exits;
    a second signal interrupts at once.

    Exit codes of --once: 0 every file processed succeeded, or nothing was new; 1 a file was
    invalid or refused (over --max-bytes); 3 a run failed or could not be archived, or the
    object store or database could not be reached. With --every: 0 when stopped by a signal.

    After every pass a heartbeat is written to the runs root (and the archive): see `status`.
    """
    from .poll import PollOptions, StopRequest, parse_interval, poll as do_poll, stop_on_signals

    if once == bool(every):
        raise UsageError("give exactly one of --once and --every INTERVAL")
    options = PollOptions(runs_root=ctx.obj["runs_root"], db_url=db_url, dataset=dataset,
                          accept_rejects=accept_rejects, max_bytes=max_bytes, endpoint_url=endpoint_url,
                          reader=reader, move=move, notify=_notify_targets(notify_channels), archive=archive)
    interval = parse_interval(every) if every else None

    def show_result(result) -> None:
        click.echo(json.dumps(result.as_dict(), default=str) if as_json else result.line())
        _show_notified(result.notified)
        if result.move_error:
            _log_line(ctx, f"move: {result.move_error}", "move-failed", level="warning",
                      error={"message": result.move_error})
        if result.archive_error:
            _log_line(ctx, f"archive: {result.archive_error}", "archive-failed", level="warning",
                      error={"message": result.archive_error})

    def show_pass(result) -> None:
        counts = ", ".join(f"{n} {k}" for k, n in result.counts().items() if n)
        if counts or result.error is None:  # "nothing new" is no news when the pass could not look
            _log_line(ctx, f"pass over {result.source}: {counts or 'nothing new'}", "poll-pass",
                      source=result.source, counts=result.counts())
        if result.error is not None:
            _log_line(ctx, f"error: {result.error.one_line()}", "poll-pass-failed", level="error",
                      source=result.source, error={"code": result.error.code, "message": result.error.one_line()})
        if result.heartbeat_error:
            _log_line(ctx, f"heartbeat: {result.heartbeat_error}", "heartbeat-failed", level="warning",
                      error={"message": result.heartbeat_error})

    stop = StopRequest()
    with stop_on_signals(stop):
        code = do_poll(source, options, every=interval, stop=stop, on_pass=show_pass, on_result=show_result)
    if stop:
        _log_line(ctx, f"stopped on {stop.reason}; an interrupted file is retried on the next start", "stopped",
                  reason=stop.reason)
    ctx.exit(int(code))


@cli.command()
@click.argument("source", metavar="DIR_OR_S3_PREFIX")
@db_option
@click.option("--plan", "plan_only", is_flag=True, help="Print the plan (each file's dataset, in load order) "
                                                        "and stop: nothing is fetched, written or loaded.")
@click.option("--dry-run", is_flag=True, help="Load the whole set and roll back: the real counts, nothing written.")
@click.option("--accept-rejects", is_flag=True, help="Load the valid rows even though some files have rejected rows.")
@click.option("--lock-wait", type=Seconds(LOCK_WAIT_MAX), default=300.0, show_default=True,
              metavar="SECONDS", help="Seconds to wait for another load to finish (0: do not wait; at most a day).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "md"]), default="text", show_default=True,
              help="How to print the plan or the migration's report.")
@max_bytes_option("Refuse files larger than this many bytes.")
@endpoint_option
@archive_option
@click.pass_context
def migrate(ctx, source, db_url, plan_only, dry_run, accept_rejects, lock_wait, fmt, max_bytes, endpoint_url,
            archive) -> None:
    """Migrate a MAPS export (a folder, or an s3:// prefix) into OPS, all files in one transaction.

    Recognises each file's dataset from its header, orders the files by dependency (users;
    projects, vendors, agencies, shops; CANs; agreements; budget lines) and prints the plan
    (--plan stops there). Each file then goes through fetch, validate and transform in its own
    run directory; the whole set is loaded in one transaction, so later files see earlier files'
    rows and the set lands completely or not at all. Rejected rows in any file stop the migration
    before the load unless --accept-rejects. The report (per file and totals) is printed and
    written to <runs root>/migrations/<id>/. Exit codes: 0 loaded (or planned with --dry-run);
    1 a file is unknown, invalid or refused; 2 usage; 3 the migration failed.
    """
    from .migrate import make_plan, migrate as do_migrate, render_markdown, render_text

    plan = make_plan(source, endpoint_url=endpoint_url)
    if plan_only:
        if fmt == "json":
            _json_out(plan.as_dict())
        else:
            click.echo(_safe_text(ctx, "\n".join(plan.lines()), lines=True))
        return
    quiet = ctx.obj.get("quiet") and ctx.obj.get("log_format") != "json"
    if ctx.obj.get("log_format") == "json":
        _log_line(ctx, "", "migrate-plan", plan=plan.as_dict())
    elif not quiet:
        for line in plan.lines():
            _log_line(ctx, line, "migrate-plan")
    def show_file(order, planned, run) -> None:
        _log_line(ctx, f"file {order}/{len(plan.files)}: {planned.name} ({planned.dataset}) in run {run.run_id}",
                  "migrate-file", file=planned.name, dataset=planned.dataset, run_id=run.run_id)

    migration = do_migrate(source, runs_root=ctx.obj["runs_root"], db_url=db_url, dry_run=dry_run,
                           accept_rejects=accept_rejects, endpoint_url=endpoint_url, max_bytes=max_bytes,
                           lock_wait=lock_wait, plan=plan, on_file=None if quiet else show_file)
    report = migration.report
    if fmt == "json":
        _json_out(report)
    else:
        _echo_report(render_markdown(report) if fmt == "md" else render_text(report))
    archived = all([_archive_finished(run, archive) for run in migration.runs if run is not None])
    if migration.error is not None:
        raise migration.error
    if not archived:
        ctx.exit(int(ExitCode.RUN_FAILED))


@cli.command()
@click.argument("source", metavar="[S3_PREFIX]", required=False)
@archive_read_option
@endpoint_option
@click.option("--max-age", metavar="INTERVAL", help="Stale when the last pass is older than this "
                                                    "(default: twice the poller's --every).")
@json_option
@click.pass_context
def status(ctx, source, archive_uri, endpoint_url, max_age, as_json) -> None:
    """Show each poller's heartbeat: its last pass, files processed and failed, the age of the
    oldest object still waiting.

    Reads the heartbeats in the runs root and, with --archive, in the archive (which outlives an
    app restart); S3_PREFIX shows only that poller's. Exit codes: 0 every poller is healthy;
    3 a poller's last pass ended more than twice its interval ago (stuck or stopped), or no
    heartbeat was found.
    """
    from .heartbeat import health, read_heartbeats
    from .poll import parse_interval
    from .stages.fetch_s3 import prefix_uri

    limit = parse_interval(max_age) if max_age else None
    if source:
        bucket, prefix = prefix_uri(source)
        source = f"s3://{bucket}/{prefix}"
    beats = [health(b, max_age=limit) for b in read_heartbeats(ctx.obj["runs_root"], _archive(archive_uri, endpoint_url),
                                                               source=source)]
    if as_json:
        _json_out({"pollers": beats, "healthy": bool(beats) and all(b["state"] == "ok" for b in beats)})
    for beat in beats if not as_json else ():
        last = beat["last_pass"]
        waiting = beat.get("oldest_waiting_age_seconds")
        click.echo(_safe_text(ctx, f"{beat['state']:<5} {beat['source']}: last pass {beat['last_pass_at']} "
                              f"({beat['age_seconds']:.0f}s ago, {_every(beat.get('interval_seconds'))}); "
                              f"{last['processed']} processed, {last['failed']} failed; "
                              f"oldest waiting {'none' if waiting is None else f'{waiting:.0f}s'}"
                              + (f"; error: {last['error']}" if last.get("error") else "")))
    if not beats:
        click.echo("no poller heartbeat found" + (f" for {source}" if source else ""), err=True)
    if not beats or any(b["state"] != "ok" for b in beats):
        ctx.exit(int(ExitCode.RUN_FAILED))


def _every(interval) -> str:
    return "single pass" if not interval else f"every {float(interval):.0f}s"


# -- database and helpers ------------------------------------------------------------------------

@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("init")
@db_option
@json_option
def db_init(db_url: str | None, as_json: bool) -> None:
    """Create the database for a first run (safe to run again): the pipeline's tables at their
    newest revision, and on SQLite the OPS tables it loads with divisions and portfolios."""
    from .db.engine import init_schema, resolve_url

    result = init_schema(resolve_url(db_url))
    if as_json:
        _json_out(result)
    else:
        click.echo(f"{_revision_change(result)}; seeded {result['seeded']['division']} divisions and "
                   f"{result['seeded']['portfolio']} portfolios", err=True)


@db.command("upgrade")
@db_option
@json_option
def db_upgrade(db_url: str | None, as_json: bool) -> None:
    """Create the pipeline's tables, or upgrade them to the newest revision (safe to run again)."""
    from .db.engine import resolve_url, upgrade_schema

    result = upgrade_schema(resolve_url(db_url))
    if as_json:
        _json_out(result)
    else:
        click.echo(_revision_change(result), err=True)


@db.command("current")
@db_option
@json_option
def db_current(db_url: str | None, as_json: bool) -> None:
    """Show the revision of the pipeline's tables; fails unless it is the newest."""
    from .db.engine import resolve_url, schema_problem, schema_status
    from .db.migrations import Revision

    result = schema_status(resolve_url(db_url))
    if as_json:
        _json_out(result)
    elif result["is_head"]:
        click.echo(f"{result['revision']} (head) in {_where(result['database'])}")
    problem = schema_problem(Revision(result["revision"], result["head"], result["legacy"], result["known"]))
    if problem is not None:
        raise problem


def _where(database: dict) -> str:
    place = "/".join(p for p in (database.get("host"), database.get("database")) if p)
    return f"{database.get('dialect')} {place}".strip()


def _revision_change(result: dict) -> str:
    before, after = result["from_revision"], result["to_revision"]
    if not result["changed"]:
        return f"schema at revision {after} (head) in {_where(result['database'])}; nothing to do"
    return f"schema upgraded from {before or 'nothing'} to {after} in {_where(result['database'])}"


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--rows", type=click.IntRange(1, 2_000_000), default=300, show_default=True,
              help="How many budget rows to write (1 to 2,000,000).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=7, show_default=True,
              help="Random seed: the same seed writes the same workbook.")
@click.option("--clean", is_flag=True, help="No planted errors.")
@click.option("--headers", type=click.Choice(["classic", "snake"]), default="classic", show_default=True,
              help="Column headers of the classic layout: as in the budget workbook, or snake_case.")
@click.option("--layout", type=click.Choice(["classic", "current"]), default="classic", show_default=True,
              help="classic (Sys_Budget_ID, CIG Name...) or budget staff's current layout (BL ID #, SC, "
                   "Procurement shop...), whose shops PSC, GCS, NIH and IBC the database must have.")
def sample(path: str, rows: int, seed: int, clean: bool, headers: str, layout: str) -> None:
    """Write a generated sample budget workbook (fake data, with some dirty rows) to PATH."""
    from .sample import write_sample_workbook

    write_sample_workbook(path, rows=rows, seed=seed, dirty=not clean, headers=headers, layout=layout)
    click.echo(path)


# -- retention and exports ----------------------------------------------------------------------

@cli.command()
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Purge runs created longer ago than this: a number and h, d or w (e.g. 30d).")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@json_option
@click.pass_context
def purge(ctx: click.Context, older_than: str, dry_run: bool, as_json: bool) -> None:
    """Remove the staged data (source copy, rows, entities) of runs older than AGE.

    Keeps each run's manifest, report, event log and summaries, so its history and lineage stay
    auditable; records the purge in the manifest and the event log.
    """
    from .purge import purge as do_purge

    result = do_purge(ctx.obj["runs_root"], older_than, dry_run=dry_run)
    if as_json:
        _json_out(result)
        return
    for run in result["runs"]:
        for name in run["files"]:
            click.echo(f"{run['path']}/{name}")
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {result['files']} files ({result['bytes']:,} bytes) from {len(result['runs'])} runs "
               f"created before {result['cutoff']}; {result['runs_kept']} newer runs kept", err=True)
    for path in result.get("busy", []):
        click.echo(f"skipped {path}: another ops-pipeline command is working on it; purge again later", err=True)


@cli.command()
@run_argument
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The file to write: .csv or .xlsx (with --annotate: as the submitted workbook).")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default=None,
              help="The file's format (default: from --output's extension).")
@click.option("--annotate", is_flag=True,
              help="Write a copy of the submitted workbook instead: problem cells highlighted with the finding "
                   "in a comment, and a first sheet listing every finding with a link to its cell.")
@json_option
def rejects(run, output: str, fmt: str | None, annotate: bool, as_json: bool) -> None:
    """Export the rejected rows of RUN (row, finding codes, cell values) for the sender to fix.

    The file holds the workbook's values as they are (PII included) and is written 0600; text
    that a spreadsheet would run as a formula is prefixed with an apostrophe. With --annotate the
    sender gets their own workbook back, marked: nothing else in it changes.
    """
    from .export import annotated_rejects, export_rejects

    suffix = Path(output).suffix.lower().lstrip(".")
    if fmt and suffix not in (fmt, "xlsm" if fmt == "xlsx" else fmt):
        raise UsageError(f"--output {Path(output).name!r} does not end in .{fmt} as --format {fmt} says")
    if annotate:
        if (fmt or suffix) not in ("xlsx", "xlsm"):
            raise UsageError("--annotate writes a workbook: use --format xlsx and an .xlsx --output")
        result = annotated_rejects(run, output)
        if as_json:
            _json_out(result)
            return
        click.echo(f"{result['findings']} findings listed, {result['highlighted']} cells highlighted in a copy of "
                   f"the workbook: {result['path']}", err=True)
        if result["comments_skipped"]:
            click.echo(f"the sheet {result['sheet']!r} already has comments: the findings are in the Findings "
                       "sheet only", err=True)
        return
    result = export_rejects(run, output)
    if as_json:
        _json_out(result)
    else:
        click.echo(f"{result['rows']} rejected rows written to {result['path']}", err=True)


@cli.command("export")
@click.argument("run_dir", metavar="[RUN]", required=False)
@db_option
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The workbook to write (.xlsx).")
@click.option("--layout", type=click.Choice(["classic", "current"]), default=None,
              help="The workbook layout: current (BL ID #, Portfolio, Project, Agreement, SC, ...; the default) "
                   "or classic (sheet 'All Budget - Cur', CAN, Sys_Budget_ID, ...).")
@click.option("--portfolio", multiple=True, metavar="ABBR", help="Only lines of this portfolio (repeatable).")
@click.option("--fy", "fiscal_years", multiple=True, type=click.IntRange(1900, 2200), metavar="YEAR",
              help="Only lines whose date needed falls in this federal fiscal year (repeatable).")
@click.option("--can", "cans", multiple=True, metavar="NUMBER", help="Only lines of this CAN (repeatable).")
@click.option("--agreement", "agreements", multiple=True, metavar="NAME|ID",
              help="Only lines of this agreement, by name or OPS id (repeatable).")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="Only lines in this status: DRAFT, PLANNED, IN_EXECUTION, OBLIGATED (repeatable).")
@click.option("--include-pii", is_flag=True, help="Also write the Comments column (it may hold names and e-mail "
                                                  "addresses).")
@json_option
def export_command(run_dir, db_url, output, layout, portfolio, fiscal_years, cans, agreements, statuses,
                   include_pii, as_json) -> None:
    """Export OPS budget lines to a workbook that budget staff can edit and submit again.

    The workbook has the layout the import reads: each row carries its line's id, amounts are
    numbers, dates are dates, the CAN is written as "G99HRF2 (HS)". Submitted unchanged, it
    changes nothing; an edited amount or status updates just that line. With RUN, the lines
    that run loaded. Comments are left out unless --include-pii (the import then keeps OPS's).
    The file is written 0600.
    """
    from .budget_export import DEFAULT_LAYOUT, Filters, export_lines

    run = _open_run(run_dir) if run_dir else None
    layout = layout or DEFAULT_LAYOUT
    filters = Filters(portfolios=portfolio, fiscal_years=fiscal_years, cans=cans, agreements=agreements,
                      statuses=statuses)
    result = export_lines(db_url, output, filters=filters, layout=layout, include_pii=include_pii, run=run)
    if as_json:
        _json_out(result)
        return
    click.echo(f"{result['lines']} budget lines written to {result['path']} ({result['layout']} layout, "
               f"sheet {result['sheet']!r})", err=True)
    for reason, count in result["left_out"].items():
        click.echo(f"left out {count} line{'s' if count != 1 else ''}: {LEFT_OUT_REASONS.get(reason, reason)}",
                   err=True)


#: Why the export leaves a line out (the import could not take it back).
LEFT_OUT_REASONS = {
    "no-can": "no CAN (the workbook needs one on every line)",
    "no-amount": "no amount (the workbook needs one on every line)",
    "no-status": "no status (the workbook needs one on every line)",
    "placeholder-agreement": "agreement named Placeholder (the import skips such rows)",
}


@cli.command()
@run_argument
@db_option
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The copy to write (.xlsx or .xlsm, as the submitted workbook).")
@json_option
def writeback(run, db_url, output: str, as_json: bool) -> None:
    """Write a copy of RUN's workbook with the ids OPS gave its new lines in their id cells.

    Only those cells change: styles, formulas, other sheets, column widths and everything else
    in the workbook stay as they were. Submit the copy next time: its lines are then found by id.
    """
    from .writeback import write_back

    result = write_back(run, output, db_url=db_url)
    if as_json:
        _json_out(result)
        return
    click.echo(f"{result['written']} ids written into column {result['column']} of {result['sheet']!r}: "
               f"{result['path']}", err=True)
    if result["formulas"]:
        click.echo(f"left alone (the id cell holds a formula): rows {', '.join(map(str, result['formulas']))}",
                   err=True)


@cli.command()
@click.argument("entity")
@click.argument("ident", metavar="ID")
@db_option
@json_option
@click.pass_context
def trace(ctx, entity: str, ident: str, db_url: str | None, as_json: bool) -> None:
    """Every run that created or changed one OPS record, newest first.

    ENTITY is budget_line_item, can, project or agreement; ID is the record's OPS id or its
    natural key (a CAN's number, a project's title, an agreement's name). For each run: when,
    the source file (and its S3 version), its sha256, the sheet and rows, what changed (old →
    new, from OPS's version history) and the run directory if it is still there.
    """
    from .printable import printable_data
    from .trace import render_trace, trace as do_trace

    result = printable_data(do_trace(entity, ident, db_url=db_url, runs_root=ctx.obj["runs_root"]))
    if as_json:
        _json_out(result)
        return
    click.echo(scrub_text(render_trace(result)))


@cli.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(["succeeded", "dry-run", "invalid", "failed", "interrupted", "incomplete"]),
              help="Only runs that ended so.")
@click.option("--dataset", metavar="NAME", help="Only runs of this dataset.")
@click.option("--since", metavar="DATE", help="Only runs started on or after this day (2026-11-01).")
@click.option("--until", metavar="DATE", help="Only runs started on or before this day.")
@db_option
@json_option
@click.pass_context
def runs(ctx, status, dataset, since, until, db_url, as_json) -> None:
    """The run history, newest first: the runs root's run directories and the runs the database
    recorded as loaded (a purged or lost directory still shows), with the number per status.

    `runs show RUN` shows one run: its stages, its load and its source-file ledger rows.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj["runs_db"] = db_url
        return
    from .runs import list_runs, render_runs

    result = list_runs(ctx.obj["runs_root"], db_url=db_url, status=status, dataset=dataset, since=since, until=until)
    if as_json:
        _json_out(result)
        return
    click.echo(printable(scrub_text(render_runs(result)), lines=True))


@runs.command("show")
@click.argument("run_id", metavar="RUN")
@db_option
@json_option
@click.pass_context
def runs_show(ctx, run_id: str, db_url, as_json: bool) -> None:
    """One run: status, source, rows, what it loaded, its stages and its ledger rows."""
    from .runs import render_run, show_run

    result = show_run(ctx.obj["runs_root"], run_id, db_url=db_url or ctx.obj.get("runs_db"))
    if as_json:
        _json_out(result)
        return
    click.echo(printable(scrub_text(render_run(result)), lines=True))


@cli.command()
@click.option("--outcome", metavar="OUTCOME", help="Only object versions with this outcome (succeeded, invalid, "
                                                  "duplicate, refused, crashed, failed, interrupted, processing).")
@click.option("--run", "run_id", metavar="RUN", help="Only the object versions of this run.")
@click.option("--since", metavar="DATE", help="Only object versions first seen on or after this day.")
@db_option
@json_option
def files(outcome, run_id, since, db_url, as_json) -> None:
    """The source-file ledger, newest first: each object version seen, its outcome and its run."""
    from .runs import list_files, render_files

    result = list_files(db_url=db_url, outcome=outcome, run_id=run_id, since=since)
    if as_json:
        _json_out(result)
        return
    click.echo(printable(scrub_text(render_files(result)), lines=True))


def main() -> None:
    cli(prog_name="ops-pipeline")


if __name__ == "__main__":  # pragma: no cover
    main()
