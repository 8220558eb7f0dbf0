"""The command line: parse options, call one library function, render what comes back.

Errors are handled in one place (:class:`PipelineGroup`): a one-line message on stderr and the
exit code from ``errors.ExitCode``; ``--debug`` adds the traceback.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import ExitCode, PipelineError, UsageError
from .redact import scrub_text

RUNS_ENV = "OPS_PIPELINE_RUNS"


class PipelineGroup(click.Group):
    """The Click group with the one error handler of the CLI."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except PipelineError as error:
            _debug_traceback(ctx)
            click.echo(f"error: {error.one_line()}", err=True)
            ctx.exit(int(error.exit_code))
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            ctx.exit(int(ExitCode.RUN_FAILED))
        except Exception as error:  # a bug: still one line unless --debug
            _debug_traceback(ctx)
            message = scrub_text(f"{type(error).__name__}: {error}".splitlines()[0])[:300]
            click.echo(f"error: internal error: {message} (rerun with --debug for the traceback)", err=True)
            ctx.exit(int(ExitCode.RUN_FAILED))


def _debug_traceback(ctx: click.Context) -> None:
    if (ctx.obj or {}).get("debug"):
        traceback.print_exc(file=sys.stderr)


def _json_out(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


# -- shared options ------------------------------------------------------------------------------

def db_option(func):
    return click.option("--db", "db_url", metavar="URL", envvar="OPS_PIPELINE_DB_URL", show_envvar=True,
                        help="Database URL, e.g. sqlite:///ops.db or postgresql+psycopg://host/db "
                             "(else cloud.gov VCAP_SERVICES).")(func)


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")(func)


def reader_option(func):
    return click.option("--reader", type=click.Choice(["auto", "calamine", "openpyxl"]), default="auto",
                        show_default=True, help="Workbook reader (auto: calamine, openpyxl where needed).")(func)


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
@click.option("--runs-root", type=click.Path(file_okay=False), envvar=RUNS_ENV, default="runs", show_default=True,
              show_envvar=True, help="Folder that holds the run directories.")
@click.option("--debug", is_flag=True, envvar="OPS_PIPELINE_DEBUG", help="Show tracebacks of errors.")
@click.option("-q", "--quiet", is_flag=True, help="Do not show stage events on the terminal.")
@click.pass_context
def cli(ctx: click.Context, runs_root: str, debug: bool, quiet: bool) -> None:
    """ops-pipeline: budget spreadsheets and MAPS exports into the OPS database.

    Stages: fetch → validate → transform → load → report, each over a run directory that you can
    inspect, rerun or chain. `run` does all five. Exit codes: 0 success, 1 data invalid,
    2 usage error, 3 run failed.
    """
    ctx.ensure_object(dict)
    ctx.obj.update({"runs_root": runs_root, "debug": debug})
    if not quiet:
        _show_events()


def _show_events() -> None:
    from rich.console import Console

    from . import rundir

    console = Console(stderr=True, highlight=False)

    def show(event: dict) -> None:
        fields = {k: v for k, v in event.items() if k not in ("time", "stage", "level", "event")}
        detail = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())
        style = {"error": "red", "warning": "yellow"}.get(event["level"], "dim")
        console.print(f"[{style}]{event['stage']:>9} {event['event']}[/] {scrub_text(detail)}", markup=True,
                      soft_wrap=True)

    if show not in rundir.EVENT_LISTENERS:
        rundir.EVENT_LISTENERS.clear()
        rundir.EVENT_LISTENERS.append(show)


# -- stage commands ------------------------------------------------------------------------------

@cli.command()
@click.argument("source")
@click.option("--dataset", default="budget-workbook", show_default=True, help="What kind of file SOURCE is.")
@click.option("--max-bytes", type=int, envvar="OPS_PIPELINE_MAX_BYTES", default=100 * 1024 * 1024,
              show_default=True, help="Refuse sources larger than this.")
@click.pass_context
def fetch(ctx: click.Context, source: str, dataset: str, max_bytes: int) -> None:
    """Copy SOURCE (a path or s3://bucket/key) into a new run directory.

    Prints the run directory's path on stdout and nothing else, so that
    RUN=$(ops-pipeline fetch budget.xlsx) works.
    """
    from .stages.fetch import fetch as do_fetch

    run = do_fetch(source, ctx.obj["runs_root"], dataset=dataset, max_bytes=max_bytes)
    click.echo(str(run.path))


@cli.command()
@run_argument
@reader_option
@json_option
def validate(run, reader: str, as_json: bool) -> None:
    """Check every cell of the fetched file; write valid rows, rejected rows and findings.

    Exits 1 when any row is rejected or required columns are missing.
    """
    from .stages.validate import validate as do_validate

    summary = do_validate(run, reader=reader)
    if as_json:
        _json_out(summary)
    else:
        rows = summary["rows"]
        click.echo(f"{rows['read']} rows read: {rows['valid']} valid, {rows['rejected']} rejected, "
                   f"{rows['skipped']} skipped", err=True)
        for code, count in sorted(summary["findings"].items()):
            click.echo(f"  {code}: {count}", err=True)
    if summary["outcome"] != "valid":
        raise_invalid(run, summary)


def raise_invalid(run, summary) -> None:
    from .errors import DataInvalid

    rejected = summary["rows"]["rejected"]
    raise DataInvalid(
        f"{rejected} row{'s' if rejected != 1 else ''} rejected; see {run.path / 'validate' / 'findings.jsonl'}",
        stage="validate", hint=f"fix the file, or continue with: ops-pipeline transform {run.path} --accept-rejects",
    )


@cli.command()
@run_argument
@click.option("--accept-rejects", is_flag=True, help="Transform the valid rows even though some were rejected.")
@json_option
def transform(run, accept_rejects: bool, as_json: bool) -> None:
    """Apply the business rules: projects, CANs, agreements and budget lines with lineage."""
    from .stages.transform import transform as do_transform

    summary = do_transform(run, accept_rejects=accept_rejects)
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
@click.option("--lock-wait", type=float, default=300.0, show_default=True,
              help="Seconds to wait for another load to finish.")
@json_option
def load(run, db_url: str | None, dry_run: bool, lock_wait: float, as_json: bool) -> None:
    """Write the entities to the database in one transaction, idempotently."""
    from .stages.load import load as do_load

    result = do_load(run, db_url=db_url, dry_run=dry_run, lock_wait=lock_wait)
    if as_json:
        _json_out(result)
    else:
        for kind, counts in result["entities"].items():
            click.echo(f"{kind}: {counts['inserted']} inserted, {counts['updated']} updated, "
                       f"{counts['unchanged']} unchanged", err=True)
        if dry_run:
            click.echo("dry run: rolled back, nothing written", err=True)


def _echo_report(text: str) -> None:
    click.echo(text, nl=not text.endswith("\n"))


def format_option(func):
    return click.option("--format", "fmt", type=click.Choice(["text", "json", "md"]), default="text",
                        show_default=True, help="Report format.")(func)


@cli.command()
@run_argument
@format_option
def report(run, fmt: str) -> None:
    """Summarise the run (stages, rows, findings, entities, decisions needed)."""
    from .stages.report import render, report as do_report

    data = do_report(run)
    _echo_report(render(data, fmt))


@cli.command("run")
@click.argument("source")
@db_option
@click.option("--dataset", default="budget-workbook", show_default=True)
@click.option("--accept-rejects", is_flag=True, help="Load the valid rows even though some were rejected.")
@click.option("--dry-run", is_flag=True, help="Load and roll back: the counts of a real load, nothing written.")
@reader_option
@format_option
@click.option("--max-bytes", type=int, envvar="OPS_PIPELINE_MAX_BYTES", default=100 * 1024 * 1024,
              show_default=True)
@click.pass_context
def run_command(ctx, source, db_url, dataset, accept_rejects, dry_run, reader, fmt, max_bytes) -> None:
    """Run all five stages on SOURCE, stopping at the first failure; always ends with the report."""
    from .pipeline import run_pipeline
    from .stages.report import render

    outcome = run_pipeline(source, runs_root=ctx.obj["runs_root"], db_url=db_url, dataset=dataset,
                           accept_rejects=accept_rejects, dry_run=dry_run, reader=reader, max_bytes=max_bytes)
    _echo_report(render(outcome.report, fmt))
    if outcome.error is not None:
        raise outcome.error


# -- database and helpers ------------------------------------------------------------------------

@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("init")
@db_option
@json_option
def db_init(db_url: str | None, as_json: bool) -> None:
    """Create the schema and seed divisions and portfolios (safe to run again)."""
    from .db.engine import init_schema, resolve_url

    result = init_schema(resolve_url(db_url))
    if as_json:
        _json_out(result)
    else:
        where = result["database"]
        click.echo(f"schema version {result['schema_version']} ready in {where.get('dialect')} "
                   f"{where.get('host') or ''}{where.get('database') or ''}; created {len(result['tables_created'])} "
                   f"tables, seeded {result['seeded']['division']} divisions and "
                   f"{result['seeded']['portfolio']} portfolios", err=True)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--rows", type=click.IntRange(1, 2_000_000), default=300, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--clean", is_flag=True, help="No planted errors.")
@click.option("--headers", type=click.Choice(["classic", "snake"]), default="classic", show_default=True)
def sample(path: str, rows: int, seed: int, clean: bool, headers: str) -> None:
    """Write a generated sample budget workbook (fake data, with some dirty rows) to PATH."""
    from .sample import write_sample_workbook

    write_sample_workbook(path, rows=rows, seed=seed, dirty=not clean, headers=headers)
    click.echo(path)


def main() -> None:
    cli(prog_name="ops-pipeline")


if __name__ == "__main__":  # pragma: no cover
    main()
