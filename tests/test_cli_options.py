"""Every option of every command: documented, and refusing bad values with a usage error (exit 2)
before any work is done, never with an internal error."""
from __future__ import annotations

import json
import re
import socket

import click
import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.datasets.registry import dataset_names
from ops_pipeline.db.engine import normalise_url, resolve_url
from ops_pipeline.errors import UsageError
from ops_pipeline.purge import parse_age
from ops_pipeline.rundir import read_json, write_json
from ops_pipeline.stages.fetch import fetch

from .conftest import good_row

CLEAN_ENV = {"OPS_PIPELINE_DB_URL": None, "VCAP_SERVICES": None, "OPS_PIPELINE_DEBUG": None,
             "OPS_PIPELINE_MAX_BYTES": None}


@pytest.fixture
def invoke(runs_root):
    def call(*args, env: dict | None = None):
        return CliRunner().invoke(cli, ["--runs-root", str(runs_root), "-q", *map(str, args)],
                                  env={**CLEAN_ENV, **(env or {})}, catch_exceptions=False)

    return call


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_every_option_of_every_command_has_help():
    undocumented = [f"{' '.join(path) or '(group)'} {'/'.join(param.opts)}"
                    for path, command in _commands(cli) for param in command.params
                    if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()]
    assert undocumented == []
    assert len(list(_commands(cli))) >= 12  # the walk reaches the commands and the db group's


def test_every_command_shows_its_help():
    for path, _command in _commands(cli):
        result = CliRunner().invoke(cli, [*path, "--help"], catch_exceptions=False)
        assert result.exit_code == 0 and "Usage: " in result.stdout, path


# -- the database URL ------------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
    ("postgresql://u:p@h/db?sslmode=require", "postgresql+psycopg://u:p@h/db?sslmode=require"),
    ("POSTGRES://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ("sqlite:///ops.db", "sqlite:///ops.db"),
    (" sqlite:////var/lib/ops.db ", "sqlite:////var/lib/ops.db"),
])
def test_database_urls_get_the_installed_driver(given, expected):
    assert normalise_url(given) == expected
    assert resolve_url(given, env={}) == expected
    assert resolve_url(None, env={"OPS_PIPELINE_DB_URL": given}) == expected


@pytest.mark.parametrize("given, message, hint", [
    ("ops.db", "'ops.db' is not a database URL", "for a SQLite file use sqlite:///ops.db"),
    ("/var/lib/ops/ops.db", "'/var/lib/ops/ops.db' is not a database URL",
     "for a SQLite file use sqlite:////var/lib/ops/ops.db"),
    ("ops:s3cret@db.example.gov/ops", "the database is not given as a URL",
     "e.g. sqlite:///ops.db or postgresql+psycopg://host/db"),
    ("ops.db\nx", "the database is not given as a URL",
     "e.g. sqlite:///ops.db or postgresql+psycopg://host/db"),
    ("mysql://ops:s3cret@db/ops", "unsupported database URL scheme 'mysql'",
     "supported: sqlite://, sqlite+pysqlite://, postgresql://, postgresql+psycopg://, postgres://"),
    ("postgresql+psycopg2://ops:s3cret@db/ops", "unsupported database URL scheme 'postgresql+psycopg2'",
     "supported: sqlite://, sqlite+pysqlite://, postgresql://, postgresql+psycopg://, postgres://"),
    ("ops:s3cret@db://x", "unsupported database URL scheme",
     "supported: sqlite://, sqlite+pysqlite://, postgresql://, postgresql+psycopg://, postgres://"),
])
def test_a_value_that_is_no_usable_database_url_is_a_one_line_usage_error(invoke, given, message, hint):
    expected = f"error: {message} (hint: {hint})\n"
    for args, env in ((["db", "init", "--db", given], None), (["db", "init"], {"OPS_PIPELINE_DB_URL": given})):
        result = invoke(*args, env=env)
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", expected)
        assert "s3cret" not in result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_postgres_url_as_cloud_gov_prints_it_reaches_the_driver(invoke):
    """postgres:// used to fail with "Can't load plugin: sqlalchemy.dialects:postgres"; now it
    connects (here: to a closed port) through psycopg."""
    result = invoke("db", "init", "--db", f"postgres://ops:s3cret@127.0.0.1:{_closed_port()}/ops")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: cannot use the postgresql at 127.0.0.1: connection failed")
    assert "plugin" not in result.stderr and "s3cret" not in result.stderr


def test_a_bad_database_url_is_refused_before_any_work(invoke, make_workbook, runs_root):
    result = invoke("run", make_workbook([good_row()]), "--db", "ops.db")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "error: 'ops.db' is not a database URL (hint: for a SQLite file use sqlite:///ops.db)\n"
    assert not runs_root.exists() or list(runs_root.iterdir()) == []


# -- datasets --------------------------------------------------------------------------------------

# The known datasets, as the catalogue finds them (MAPS exports, budget workbooks...).
KNOWN = ", ".join(dataset_names())
UNKNOWN_DATASET = f"error: unknown dataset 'budget-workbok' (known: {KNOWN})\n"


def test_validate_refuses_an_unknown_dataset_so(invoke, make_workbook, runs_root):
    """The message fetch, run and poll must give: validate's, for a run that names the dataset."""
    run = fetch(str(make_workbook([good_row()])), runs_root)
    manifest = read_json(run.path / "manifest.json")
    write_json(run.path / "manifest.json", {**manifest, "dataset": "budget-workbok"})
    result = invoke("validate", run.path)
    assert (result.exit_code, result.stderr) == (2, UNKNOWN_DATASET)


@pytest.mark.parametrize("command", [
    ["fetch", "{book}"], ["fetch", "s3://bucket/key.xlsx"], ["fetch", "s3://bucket/in/", "--next", "--db", "{db}"],
    ["run", "{book}", "--db", "{db}"], ["poll", "s3://bucket/in/", "--once", "--db", "{db}"],
])
def test_fetch_run_and_poll_refuse_an_unknown_dataset_as_validate_does(invoke, make_workbook, runs_root, sqlite_url,
                                                                        command):
    book = make_workbook([good_row()])
    args = [part.format(book=book, db=sqlite_url) for part in command]
    result = invoke(*args, "--dataset", "budget-workbok")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", UNKNOWN_DATASET)
    assert not runs_root.exists() or list(runs_root.iterdir()) == []


def test_the_library_fetch_refuses_an_unknown_dataset_too(make_workbook, runs_root):
    with pytest.raises(UsageError, match="^" + re.escape(f"unknown dataset 'nope' (known: {KNOWN})") + "$"):
        fetch(str(make_workbook([good_row()])), runs_root, dataset="nope")
    assert not runs_root.exists()


# -- numbers and durations -------------------------------------------------------------------------

def _usage_error(result, option: str, phrase: str) -> None:
    assert (result.exit_code, result.stdout) == (2, "")
    assert f"Error: Invalid value for '{option}'" in result.stderr and phrase in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize("command", [["fetch", "{book}"], ["run", "{book}", "--db", "{db}"],
                                     ["poll", "s3://bucket/in/", "--once", "--db", "{db}"]])
@pytest.mark.parametrize("value, phrase", [
    ("-1", "-1 is not in the range 1<=x<=9223372036854775807"),
    ("0", "0 is not in the range 1<=x<=9223372036854775807"),
    ("9223372036854775808", "is not in the range 1<=x<=9223372036854775807"),
    ("99999999999999999999999999999999", "is not in the range"),
    ("1e9", "'1e9' is not a valid integer"),
    ("ten", "'ten' is not a valid integer"),
])
def test_max_bytes_must_be_a_size(invoke, make_workbook, runs_root, sqlite_url, command, value, phrase):
    args = [part.format(book=make_workbook([good_row()]), db=sqlite_url) for part in command]
    _usage_error(invoke(*args, "--max-bytes", value), "--max-bytes", phrase)
    _usage_error(invoke(*args, env={"OPS_PIPELINE_MAX_BYTES": value}), "--max-bytes", phrase)
    assert not runs_root.exists() or list(runs_root.iterdir()) == []


@pytest.mark.parametrize("value, phrase", [
    ("-1", "-1.0 is not in the range 0<=x<=86400.0"), ("-0.001", "is not in the range"),
    ("86400.5", "86400.5 is not in the range 0<=x<=86400.0"), ("inf", "inf is not in the range"),
    ("1e400", "inf is not in the range"), ("-inf", "is not in the range"),
    ("nan", "'nan' is not a number of seconds"), ("NaN", "'NaN' is not a number of seconds"),
    ("soon", "'soon' is not a valid number of seconds"),
])
def test_lock_wait_must_be_seconds_up_to_a_day(invoke, value, phrase, tmp_path):
    _usage_error(invoke("load", tmp_path, "--db", "sqlite:///x.db", "--lock-wait", value), "--lock-wait", phrase)


@pytest.mark.parametrize("value", ["99999999999w", "99999999999999999999999999h", "5215w", "36501d", "876001h"])
def test_older_than_beyond_a_century_is_a_usage_error(invoke, value):
    result = invoke("purge", "--older-than", value)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"error: --older-than '{value}' is longer than 100 years (hint: use at most 36500d)\n"


@pytest.mark.parametrize("value, days", [("36500d", 36500), ("5214w", 36498), ("876000h", 36500), ("0d", 0)])
def test_older_than_up_to_a_century_is_an_age(value, days):
    assert parse_age(value).days == days


def test_purge_with_the_longest_age_runs(invoke):
    result = invoke("purge", "--older-than", "36500d", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["runs"] == []


@pytest.mark.parametrize("value", ["0.5s", "0.99", "24.5h", "1441m", "86401", "99999999999999999999h"])
def test_a_poll_interval_outside_a_second_to_a_day_is_a_usage_error(invoke, tmp_path, value):
    # A database without the schema: were the interval accepted, poll would refuse to start
    # (exit 3) rather than poll for ever.
    result = invoke("poll", "s3://bucket/in/", "--every", value, "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (f"error: --every: '{value}' is not between 1s and 24h "
                             "(hint: use e.g. 30s, 5m or 1h)\n")


@pytest.mark.parametrize("option, value, phrase", [
    ("--rows", "0", "0 is not in the range 1<=x<=2000000"),
    ("--rows", "-5", "is not in the range 1<=x<=2000000"),
    ("--rows", "2000001", "is not in the range 1<=x<=2000000"),
    ("--seed", "-1", "-1 is not in the range 0<=x<=4294967295"),
    ("--seed", "4294967296", "is not in the range 0<=x<=4294967295"),
    ("--seed", "99999999999999999999999999999", "is not in the range"),
])
def test_sample_rows_and_seed_are_bounded(invoke, tmp_path, option, value, phrase):
    _usage_error(invoke("sample", tmp_path / "s.xlsx", option, value), option, phrase)
    assert not (tmp_path / "s.xlsx").exists()
