"""Connecting to the database: URL resolution (option, environment, cloud.gov VCAP_SERVICES), TLS
options, `db init`, schema checks, and the promise that a password never shows anywhere."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from ops_pipeline import rundir
from ops_pipeline.cli import cli
from ops_pipeline.db import migrations
from ops_pipeline.db.engine import (
    ENV_URL,
    connection_error,
    describe,
    init_schema,
    make_engine,
    resolve_url,
    url_from_vcap,
)
from ops_pipeline.db.models import Lineage, PipelineRun, SourceFile
from ops_pipeline.db.ops_models import OpsBase
from ops_pipeline.errors import UsageError
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.transform import transform
from ops_pipeline.stages.validate import validate


# A password nobody could mistake for anything else in output.
SECRET = "Zq7-Sekr1t-Pa55w0rd-9x"


def vcap(uri: str, name: str = "aws-rds") -> str:
    return json.dumps({name: [{"name": "ops-db", "credentials": {"uri": uri, "db_name": "x"}}]})


def staged_run(runs_root: Path, tmp_path: Path, rows: int = 30):
    workbook = write_sample_workbook(tmp_path / "budget.xlsx", rows=rows, seed=3, dirty=False)
    run = fetch(str(workbook), runs_root)
    assert validate(run)["outcome"] == "valid"
    transform(run)
    return run


def invoke(*args: str, env: dict | None = None):
    base = {ENV_URL: None, "VCAP_SERVICES": None, "OPS_PIPELINE_DEBUG": None}
    return CliRunner().invoke(cli, list(args), env={**base, **(env or {})}, catch_exceptions=False)


@pytest.fixture
def restore_event_listeners():
    """CLI runs without -q register a terminal listener; put the list back as it was."""
    saved = list(rundir.EVENT_LISTENERS)
    yield
    rundir.EVENT_LISTENERS[:] = saved


# -- which URL --------------------------------------------------------------------------------

def test_the_option_wins_over_the_environment_and_vcap():
    env = {ENV_URL: "sqlite:///env.db", "VCAP_SERVICES": vcap("postgres://u:p@rds/db")}
    assert resolve_url("sqlite:///option.db", env=env) == "sqlite:///option.db"
    assert resolve_url(None, env=env) == "sqlite:///env.db"


def test_vcap_services_is_used_when_no_url_is_given():
    env = {"VCAP_SERVICES": vcap("postgres://u:p@db.example.us-gov-west-1.rds.amazonaws.com:5432/ops")}
    assert resolve_url(None, env=env) == "postgresql+psycopg://u:p@db.example.us-gov-west-1.rds.amazonaws.com:5432/ops"


@pytest.mark.parametrize("uri, expected", [
    ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
    ("postgresql://u:p@h/db?sslmode=verify-full", "postgresql+psycopg://u:p@h/db?sslmode=verify-full"),
    ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
])
def test_vcap_uri_gets_the_psycopg_driver(uri, expected):
    assert url_from_vcap(vcap(uri)) == expected


def test_vcap_takes_the_first_aws_rds_service_with_a_uri():
    services = {"s3": [{"credentials": {"uri": "s3://bucket"}}],
                "aws-rds": [{"credentials": {}}, {"credentials": {"uri": "postgres://a:b@first/db"}},
                            {"credentials": {"uri": "postgres://a:b@second/db"}}]}
    assert url_from_vcap(json.dumps(services)) == "postgresql+psycopg://a:b@first/db"


def test_vcap_without_a_database_is_not_a_url():
    assert url_from_vcap(vcap("s3://bucket", name="s3")) is None
    with pytest.raises(UsageError, match="no database given"):
        resolve_url(None, env={"VCAP_SERVICES": vcap("s3://bucket", name="s3")})


def test_vcap_that_is_not_json_is_a_usage_error():
    with pytest.raises(UsageError, match="VCAP_SERVICES is not valid JSON"):
        resolve_url(None, env={"VCAP_SERVICES": "{not json"})


def test_no_url_at_all_says_how_to_give_one(runs_root, tmp_path):
    run = staged_run(runs_root, tmp_path)
    result = invoke("-q", "load", str(run.path))
    assert result.exit_code == 2
    assert result.stderr == ("error: no database given (hint: pass --db URL or set OPS_PIPELINE_DB_URL "
                             "(e.g. sqlite:///ops.db))\n")


@pytest.mark.postgres
def test_commands_take_the_database_from_vcap_services(ops_pg_url, runs_root, tmp_path):
    pg_url = ops_pg_url
    url = make_url(pg_url)
    uri = f"postgres://{url.username}:{quote(url.password, safe='')}@{url.host}:{url.port}/{url.database}"
    env = {"VCAP_SERVICES": vcap(uri)}
    assert invoke("-q", "db", "init", env=env).exit_code == 0
    run = staged_run(runs_root, tmp_path)
    result = invoke("-q", "load", str(run.path), "--json", env=env)
    assert result.exit_code == 0, result.output
    loaded = json.loads(result.stdout)
    assert loaded["database"] == {"dialect": "postgresql", "host": url.host, "port": url.port,
                                  "database": url.database}
    assert loaded["entities"]["budget_line_item"]["inserted"] == 30


@pytest.mark.postgres
def test_the_environment_variable_reaches_every_database_command(ops_pg_url, runs_root, tmp_path):
    pg_url = ops_pg_url
    env = {ENV_URL: pg_url}
    assert invoke("-q", "db", "init", env=env).exit_code == 0
    run = staged_run(runs_root, tmp_path)
    assert invoke("-q", "load", str(run.path), env=env).exit_code == 0
    result = invoke("-q", "--runs-root", str(runs_root), "run", str(tmp_path / "budget.xlsx"), env=env)
    assert result.exit_code == 0, result.output
    assert f"Database: postgresql {make_url(pg_url).host} {make_url(pg_url).database}" in result.stdout


# -- TLS ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["sslmode=require", "sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds.pem"])
def test_tls_options_in_the_url_reach_the_driver(query):
    engine = make_engine(f"postgresql+psycopg://u:{SECRET}@db.example.gov:5432/ops?{query}")
    try:
        expected = dict(pair.split("=") for pair in query.split("&"))
        assert dict(engine.url.query) == expected
        _, connect_kwargs = engine.dialect.create_connect_args(engine.url)
        for key, value in expected.items():
            assert connect_kwargs[key] == value
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_tls_required_by_the_url_but_not_offered_is_one_clear_line(pg_url):
    result = invoke("-q", "db", "init", "--db", f"{pg_url}?sslmode=require")
    assert result.exit_code == 3
    host, port = make_url(pg_url).host, make_url(pg_url).port
    assert result.stderr == (
        f'error: cannot use the postgresql at {host}: connection failed: connection to server at "{host}", '
        f"port {port} failed: server does not support SSL, but SSL was required "
        f"(hint: check --db / OPS_PIPELINE_DB_URL)\n")


# -- the password never shows ----------------------------------------------------------------

def test_describe_and_connection_errors_hide_the_password():
    url = f"postgresql+psycopg://ops:{SECRET}@db.example.gov:5432/ops?sslpassword={SECRET}x"
    described = describe(url)
    assert described["host"] == "db.example.gov" and described["database"] == "ops"
    assert SECRET not in json.dumps(described)
    error = connection_error(RuntimeError(f"failed for ops:{SECRET}@db and {SECRET}x"), url)
    assert SECRET not in error.one_line()
    assert error.one_line().startswith("cannot use the postgresql at db.example.gov: failed for ops:***@db")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bad_urls() -> dict:
    base = os.environ.get("OPS_PIPELINE_TEST_PG_URL")
    urls = {"unreachable": f"postgresql+psycopg://ops:{SECRET}@127.0.0.1:{_free_port()}/ops"}
    if base:
        urls["wrong-password"] = make_url(base).set(password=SECRET).render_as_string(hide_password=False)
    return urls


@pytest.mark.postgres
@pytest.mark.parametrize("case", ["wrong-password", "unreachable"])
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_failed_connection_never_shows_the_password(case, debug, pg_url, runs_root, tmp_path,
                                                      restore_event_listeners):
    url = _bad_urls()[case]
    run = staged_run(runs_root, tmp_path)
    flags = ["--debug"] if debug else []
    outputs = []
    for args in (["load", str(run.path), "--db", url],
                 ["db", "init", "--db", url],
                 ["--runs-root", str(runs_root), "run", str(tmp_path / "budget.xlsx"), "--db", url],
                 ["report", str(run.path)]):
        result = CliRunner().invoke(cli, [*flags, *args], env={ENV_URL: None, "VCAP_SERVICES": None})
        outputs.append(result.output)
        if args[0] != "report":
            assert result.exit_code == 3, result.output
            assert result.stderr.splitlines()[-1].startswith("error: ")
            assert "cannot use the postgresql at 127.0.0.1: connection failed" in result.stderr
    assert "Traceback" in "".join(outputs) if debug else "Traceback" not in "".join(outputs)
    files = [p for p in runs_root.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".md")]
    assert any(p.name == "events.jsonl" for p in files) and any(p.name == "manifest.json" for p in files)
    for text_seen in [*outputs, *(p.read_text() for p in files)]:
        assert SECRET not in text_seen
        assert quote(SECRET) not in text_seen


@pytest.mark.postgres
def test_a_password_with_url_escapes_is_hidden_in_both_forms(pg_url, runs_root, tmp_path):
    odd = "p@ss:w/rd%"
    url = make_url(pg_url).set(password=odd).render_as_string(hide_password=False)
    assert quote(odd, safe="") in url
    run = staged_run(runs_root, tmp_path)
    result = invoke("--debug", "-q", "load", str(run.path), "--db", url)
    assert result.exit_code == 3
    for seen in (result.output, (run.path / "manifest.json").read_text(), (run.path / "logs/events.jsonl").read_text()):
        assert odd not in seen and quote(odd, safe="") not in seen


# -- db init and schema checks ----------------------------------------------------------------

def test_db_init_is_idempotent(db_url):
    # db_url has the schema already (the fixture ran init once): a second init changes nothing.
    engine = make_engine(db_url)
    tables = [*OpsBase.metadata.sorted_tables, PipelineRun.__table__, Lineage.__table__, SourceFile.__table__]
    try:
        with engine.connect() as conn:
            before = {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables}
        result = invoke("-q", "db", "init", "--db", db_url, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["changed"] is False and data["from_revision"] == data["to_revision"] == migrations.head()
        assert data["seeded"] == {"division": 0, "portfolio": 0}
        with engine.connect() as conn:
            after = {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables}
        assert after == before
        assert before["division"] == 9 and before["portfolio"] == 10  # OPS's reference rows
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_db_init_on_postgres_creates_only_the_pipelines_schema_once(pg_url):
    first = init_schema(pg_url)
    assert (first["from_revision"], first["to_revision"]) == (None, migrations.head())
    assert first["seeded"] == {"division": 0, "portfolio": 0}  # OPS's tables are OPS's on PostgreSQL
    second = init_schema(pg_url)
    assert second["changed"] is False
    result = invoke("-q", "db", "init", "--db", pg_url)
    assert result.exit_code == 0
    where = make_url(pg_url)
    assert result.stderr == (f"schema at revision {migrations.head()} (head) in postgresql {where.host}/"
                             f"{where.database}; nothing to do; seeded 0 divisions and 0 portfolios\n")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request, tmp_path) -> str:
    """A database without the ops-pipeline schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("pg_url")


def test_load_refuses_a_database_without_the_schema(empty_db_url, runs_root, tmp_path):
    run = staged_run(runs_root, tmp_path)
    result = invoke("-q", "load", str(run.path), "--db", empty_db_url)
    assert result.exit_code == 3
    assert result.stderr == ("error: load: the database has no ops-pipeline schema "
                             "(hint: create it with: ops-pipeline db init --db URL)\n")
    assert run.__class__(run.path).status("load") == "failed"


# A database behind the newest revision, or at one this release does not know: tests/test_migrations.py.
