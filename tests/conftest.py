"""Shared fixtures: a temporary runs root, databases (SQLite and the test PostgreSQL), workbooks.

PostgreSQL comes from ``OPS_PIPELINE_TEST_PG_URL`` (scripts/with-postgres.sh sets it). Without it
PostgreSQL tests are skipped, unless ``OPS_PIPELINE_REQUIRE_PG=1`` (the test command sets it) turns
the skip into a failure, so CI cannot pass by silently not testing PostgreSQL.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ops_pipeline.db.engine import init_schema

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("OPS_PIPELINE_CORPUS", REPO.parent / "shared" / "corpus" / "real"))


@pytest.fixture
def runs_root(tmp_path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    init_schema(url)
    return url


def _pg_base_url() -> str | None:
    url = os.environ.get("OPS_PIPELINE_TEST_PG_URL")
    if not url:
        if os.environ.get("OPS_PIPELINE_REQUIRE_PG") == "1":
            pytest.fail("OPS_PIPELINE_TEST_PG_URL is not set but OPS_PIPELINE_REQUIRE_PG=1")
        pytest.skip("PostgreSQL-only: set OPS_PIPELINE_TEST_PG_URL (scripts/test.sh does)")
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
def pg_schema_url(pg_url) -> str:
    init_schema(pg_url)
    return pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """Each test using it runs on SQLite and on PostgreSQL, with the schema created."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    return CORPUS


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
