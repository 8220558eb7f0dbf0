"""Shared fixtures: a temporary runs root, databases (SQLite and the test PostgreSQL), workbooks.

PostgreSQL comes from ``OPS_PIPELINE_TEST_PG_URL`` (scripts/with-postgres.sh sets it); the corpus of
real spreadsheets is ``tests/corpus/real`` (``OPS_PIPELINE_CORPUS`` overrides it). A test whose
prerequisite is missing is skipped on a developer's machine, but under ``OPS_PIPELINE_REQUIRE_ALL=1``
(scripts/test.sh, hence CI, sets it) it fails instead, and so does any other skip: CI cannot pass by
silently not testing something. ``OPS_PIPELINE_REQUIRE_PG=1`` does the same for PostgreSQL alone.
"""
from __future__ import annotations

import os
import shutil
import secrets
from pathlib import Path
from typing import NamedTuple

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ops_pipeline.db.engine import init_schema, make_engine

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("OPS_PIPELINE_CORPUS") or REPO / "tests" / "corpus" / "real")
#: Files of the corpus folder that are about the corpus, not part of it.
CORPUS_PAPERS = frozenset({"SOURCES.md", "LICENSE-MIT.txt", "LICENSE-Apache-2.0.txt"})
REQUIRE_ALL = "OPS_PIPELINE_REQUIRE_ALL"


def corpus_files() -> list[str]:
    """The names of the corpus's data files (none when the corpus is missing)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in CORPUS_PAPERS)


def _required(*, postgres: bool = False) -> bool:
    return os.environ.get(REQUIRE_ALL) == "1" or (postgres and os.environ.get("OPS_PIPELINE_REQUIRE_PG") == "1")


def missing_prerequisite(what: str, *, postgres: bool = False):
    """Skip the test for want of ``what``, or fail it where skipping is forbidden (CI)."""
    if _required(postgres=postgres):
        pytest.fail(f"missing prerequisite: {what} (skipping is forbidden: {REQUIRE_ALL}=1"
                    f"{' or OPS_PIPELINE_REQUIRE_PG=1' if postgres else ''})", pytrace=False)
    pytest.skip(what)


def pytest_runtest_setup(item):
    """A test marked serial (it stops the PostgreSQL server the others use) never runs beside
    other workers: it would fail theirs. scripts/test.sh runs it alone, after them."""
    if item.get_closest_marker("serial") and int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        pytest.fail("a serial test runs alone: run it without -n (scripts/test.sh does, after the others)",
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under OPS_PIPELINE_REQUIRE_ALL=1 a skip from anywhere (a skipif mark, importorskip, a
    plugin) is a failure, so the run can never end with skipped tests."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get(REQUIRE_ALL) == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but {REQUIRE_ALL}=1 forbids skipping: {reason}"


@pytest.fixture
def runs_root(tmp_path) -> Path:
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """A SQLite database after ``db init`` (the pipeline's tables, OPS's subset and reference rows),
    made once: each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("sqlite-template") / "ops.db"
    init_schema(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path, _sqlite_template) -> str:
    path = tmp_path / "ops.db"
    shutil.copy(_sqlite_template, path)  # the file's 0600 mode comes along
    return f"sqlite:///{path}"


def _pg_base_url() -> str | None:
    url = os.environ.get("OPS_PIPELINE_TEST_PG_URL")
    if not url:
        missing_prerequisite("PostgreSQL: set OPS_PIPELINE_TEST_PG_URL (scripts/test.sh does)", postgres=True)
    return url


@pytest.fixture
def pg_url() -> str:
    """A fresh, empty PostgreSQL database for one test (created from the test server's URL)."""
    base = make_url(_pg_base_url())
    admin = os.environ.get("OPS_PIPELINE_TEST_PG_ADMIN_URL") or base.set(database="postgres")
    name = f"ops_t_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{base.username}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def pg_schema_url(ops_databases) -> str:
    """A fresh OPS database (OPS's schema and reference rows) with the pipeline's schema."""
    url = ops_databases.create(template=ops_databases.pipeline_template())
    try:
        yield url
    finally:
        ops_databases.drop(make_url(url).database)


@pytest.fixture(scope="session")
def ops_databases():
    """The session's OPS database maker (tests/opsdb.py): OPS's schema built once into a template."""
    from tests.opsdb import OpsDatabases

    url = _pg_base_url()
    maker = OpsDatabases(url, os.environ.get("OPS_PIPELINE_TEST_PG_ADMIN_URL"),
                         os.environ.get("OPS_PIPELINE_TEST_PG_BINDIR"))
    try:
        maker.build_template()
        yield maker
    finally:
        maker.close()


class OpsDatabase(NamedTuple):
    """One test's OPS database: the app role's URL, the admin role's, and the database name."""

    url: str
    admin_url: str
    name: str


@pytest.fixture
def ops_pg(ops_databases) -> OpsDatabase:
    """A fresh OPS database (OPS's schema at its Alembic head + its reference rows), as the app role
    sees it in production: it may read and write OPS's rows but owns none of its tables."""
    url = ops_databases.create()
    name = make_url(url).database
    try:
        yield OpsDatabase(url, ops_databases.admin_url(name), name)
    finally:
        ops_databases.drop(name)


@pytest.fixture
def ops_pg_url(ops_pg) -> str:
    """The app role's URL of a fresh OPS database (see ``ops_pg``)."""
    return ops_pg.url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """Each test using it runs on SQLite and on PostgreSQL, with the schema created."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def corpus_dir() -> Path:
    require_corpus()
    return CORPUS


def require_corpus() -> None:
    if not corpus_files():
        missing_prerequisite(f"the corpus of real spreadsheets: no data files in {CORPUS}")


@pytest.fixture
def sample_workbook(tmp_path) -> Path:
    from ops_pipeline.sample import write_sample_workbook

    return write_sample_workbook(tmp_path / "budget.xlsx", rows=300, seed=7)


HEADER = ["CAN", "Sys_Budget_ID", "Project Title", "CIG Name", "CIG Type", "Line Desc", "Date Needed",
          "Amount", "PSCFee Amount", "Status", "Comments"]


def write_workbook(path: Path, rows: list[list], *, header: list[str] | None = HEADER,
                   sheet: str = "All Budget - Cur", before: list[list] | None = None) -> Path:
    """A small workbook: optional rows before the header, the header, then ``rows``."""
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.title = sheet
    for row in before or []:
        ws.append(row)
    if header is not None:
        ws.append(header)
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


@pytest.fixture
def make_workbook(tmp_path):
    """Factory: make_workbook(rows, header=..., sheet=..., before=..., name=...) → path."""
    counter = {"n": 0}

    def make(rows: list[list], name: str | None = None, **kwargs) -> Path:
        counter["n"] += 1
        return write_workbook(tmp_path / (name or f"book{counter['n']}.xlsx"), rows, **kwargs)

    return make


def good_row(**overrides) -> list:
    """One valid budget row in HEADER order; override cells by field name."""
    import datetime as dt

    values = {
        "can": "G994648 (CC - SB - 5 YR)", "budget_id": 15001, "project": "Child Care Research Partnerships",
        "cig_name": "CCRP Contract", "cig_type": "contract", "desc": "Year 1 evaluation",
        "date": dt.datetime(2025, 3, 11), "amount": 1234.5, "fee": 61.73, "status": "OPRE - CURRENT",
        "comments": "Per Jordan Alvarez",
    }
    values.update(overrides)
    return [values[k] for k in ("can", "budget_id", "project", "cig_name", "cig_type", "desc", "date",
                                "amount", "fee", "status", "comments")]


# -- helpers the load tests share ---------------------------------------------------------------

def staged(workbook, runs_root):
    """A workbook fetched, validated (every row valid) and transformed: a run ready to load."""
    from ops_pipeline.stages.fetch import fetch
    from ops_pipeline.stages.transform import transform
    from ops_pipeline.stages.validate import validate

    run = fetch(str(workbook), runs_root)
    assert validate(run)["outcome"] == "valid"
    transform(run)
    return run


def db_rows(url: str, statement) -> list:
    """The rows a statement selects, on a connection of its own."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(statement).all()
    finally:
        engine.dispose()


def db_scalar(url: str, statement):
    """The first value a statement selects (None when it selects no row), on a connection of its own."""
    rows = db_rows(url, statement)
    return rows[0][0] if rows else None
