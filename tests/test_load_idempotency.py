"""Loading is idempotent by natural key on SQLite and PostgreSQL; a dry run counts what a real load
would; the report names the database written; the column limits are checked before any load."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from ops_pipeline.cli import cli
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.models import Lineage, PipelineRun
from ops_pipeline.db.ops_models import CAN, Agreement, BudgetLineItem, Project
from ops_pipeline.rules.money import MAX_AMOUNT
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.stages.load import load
from tests.conftest import good_row, staged

KINDS = ("project", "can", "agreement", "budget_line_item")


def table_counts(url: str) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {model.__tablename__: conn.execute(select(func.count()).select_from(model)).scalar()
                    for model in (Project, CAN, Agreement, BudgetLineItem, Lineage, PipelineRun)}
    finally:
        engine.dispose()


def lines(url: str) -> dict[int, tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(BudgetLineItem.id, BudgetLineItem.line_description, BudgetLineItem.amount,
                                       BudgetLineItem.date_needed, BudgetLineItem.status)).all()
        return {row.id: tuple(row[1:]) for row in rows}
    finally:
        engine.dispose()


def only(counts: dict, **expected) -> dict:
    return {kind: counts[kind] for kind in expected}


def loaded(counts: dict) -> int:
    """The records a load wrote or found in OPS (not those it skipped or rejected, with findings)."""
    return counts["inserted"] + counts["updated"] + counts["unchanged"]


# -- idempotency --------------------------------------------------------------------------------

def test_loading_the_same_run_twice_changes_nothing_the_second_time(db_url, runs_root, tmp_path):
    workbook = write_sample_workbook(tmp_path / "budget.xlsx", rows=400, seed=5, dirty=False)
    run = staged(workbook, runs_root)
    first = load(run, db_url=db_url)
    assert first["entities"]["budget_line_item"] == {"inserted": 400, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    before, stored = table_counts(db_url), lines(db_url)
    second = load(run, db_url=db_url)
    assert second["reloaded"] is True
    for kind in KINDS:
        # What was skipped or rejected the first time (a CAN OPS lacks, with no portfolio; an AA
        # agreement) is skipped or rejected again, with the same findings.
        assert second["entities"][kind] == {**first["entities"][kind], "inserted": 0, "updated": 0,
                                            "unchanged": loaded(first["entities"][kind])}
    assert second["findings"] == first["findings"]
    assert table_counts(db_url) == before
    assert lines(db_url) == stored
    assert before["budget_line_item"] == 400 and before["ops_pipeline_lineage"] == sum(
        loaded(first["entities"][k]) for k in KINDS)


def test_a_resubmitted_workbook_matches_everything_including_lines_without_an_id(db_url, runs_root, tmp_path):
    # The sample mixes lines with a Sys_Budget_ID, "new" and blank ones; a second run of the same
    # file (a new run id) must match every line, the id-less ones by their signature.
    workbook = write_sample_workbook(tmp_path / "budget.xlsx", rows=300, seed=8, dirty=False)
    load(staged(workbook, runs_root), db_url=db_url)
    stored = lines(db_url)
    again = load(staged(workbook, runs_root), db_url=db_url)
    assert again["reloaded"] is False
    assert again["entities"]["budget_line_item"] == {"inserted": 0, "updated": 0, "unchanged": 300, "skipped": 0, "rejected": 0}
    assert lines(db_url) == stored
    counts = table_counts(db_url)
    assert counts["ops_pipeline_run"] == 2
    assert counts["ops_pipeline_lineage"] == 2 * sum(loaded(again["entities"][k]) for k in KINDS)


def test_a_changed_amount_updates_that_line_only(db_url, runs_root, make_workbook):
    rows = [good_row(budget_id=15001), good_row(budget_id=15002, desc="Year 2", amount=2000),
            good_row(budget_id=15003, desc="Year 3", amount=3000.25)]
    load(staged(make_workbook(rows), runs_root), db_url=db_url)
    rows[1] = good_row(budget_id=15002, desc="Year 2", amount="$ 2,500.75")
    result = load(staged(make_workbook(rows), runs_root), db_url=db_url)
    assert result["entities"]["budget_line_item"] == {"inserted": 0, "updated": 1, "unchanged": 2, "skipped": 0, "rejected": 0}
    assert only(result["entities"], project=1, can=1, agreement=1) == {
        "project": {"inserted": 0, "updated": 0, "unchanged": 1, "skipped": 0, "rejected": 0},
        "can": {"inserted": 0, "updated": 0, "unchanged": 1, "skipped": 0, "rejected": 0},
        "agreement": {"inserted": 0, "updated": 0, "unchanged": 1, "skipped": 0, "rejected": 0}}
    stored = lines(db_url)
    assert stored[15002][1] == Decimal("2500.75")
    assert stored[15003][1] == Decimal("3000.25") and stored[15001][1] == Decimal("1234.50")


def test_a_line_without_id_is_matched_by_can_agreement_description_date_and_amount(db_url, runs_root,
                                                                                    make_workbook):
    rows = [good_row(budget_id="new", desc="Travel", amount=500),
            good_row(budget_id=None, desc="Travel", amount=500),  # the same signature twice: two lines
            good_row(budget_id="new", desc="Printing", amount=75.1)]
    first = load(staged(make_workbook(rows), runs_root), db_url=db_url)
    assert first["entities"]["budget_line_item"]["inserted"] == 3
    stored = lines(db_url)
    # Re-submitted with a changed status on one line: matched, updated, no new line.
    rows[2] = good_row(budget_id="new", desc="Printing", amount=75.1, status="obligated")
    result = load(staged(make_workbook(rows), runs_root), db_url=db_url)
    assert result["entities"]["budget_line_item"] == {"inserted": 0, "updated": 1, "unchanged": 2, "skipped": 0, "rejected": 0}
    after = lines(db_url)
    assert after.keys() == stored.keys()
    printing = next(i for i, v in after.items() if v[0] == "Printing")
    assert after[printing][3] == "OBLIGATED"
    # A different amount is a different line: inserted, the old one stays.
    rows.append(good_row(budget_id="new", desc="Printing", amount=80, status="obligated"))
    result = load(staged(make_workbook(rows), runs_root), db_url=db_url)
    assert result["entities"]["budget_line_item"] == {"inserted": 1, "updated": 0, "unchanged": 3, "skipped": 0, "rejected": 0}
    assert len(lines(db_url)) == 4
    # The 80 line twice where OPS holds it once: the stored one matches one of them, once.
    rows.append(good_row(budget_id="new", desc="Printing", amount=80, status="obligated"))
    result = load(staged(make_workbook(rows), runs_root), db_url=db_url)
    assert result["entities"]["budget_line_item"] == {"inserted": 1, "updated": 0, "unchanged": 4, "skipped": 0, "rejected": 0}
    assert len(lines(db_url)) == 5


def test_a_line_without_id_whose_amount_changed_is_a_new_line(db_url, runs_root, make_workbook):
    load(staged(make_workbook([good_row(budget_id="new", desc="Travel", amount=500)]), runs_root), db_url=db_url)
    result = load(staged(make_workbook([good_row(budget_id="new", desc="Travel", amount=600)]), runs_root),
                  db_url=db_url)
    assert result["entities"]["budget_line_item"] == {"inserted": 1, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    assert sorted(v[1] for v in lines(db_url).values()) == [Decimal("500.00"), Decimal("600.00")]


def test_a_new_line_keeps_its_budget_id_and_later_lines_get_higher_ids(db_url, runs_root, make_workbook):
    load(staged(make_workbook([good_row(budget_id=15001)]), runs_root), db_url=db_url)
    result = load(staged(make_workbook([good_row(budget_id=15001), good_row(budget_id=90000, desc="Explicit")]),
                         runs_root), db_url=db_url)
    assert result["entities"]["budget_line_item"] == {"inserted": 1, "updated": 0, "unchanged": 1, "skipped": 0, "rejected": 0}
    assert lines(db_url)[90000][0] == "Explicit"
    result = load(staged(make_workbook([good_row(budget_id="new", desc="Later")]), runs_root), db_url=db_url)
    assert result["entities"]["budget_line_item"]["inserted"] == 1
    later = next(i for i, v in lines(db_url).items() if v[0] == "Later")
    assert later > 90000
    # Whatever else writes budget lines (OPS itself) draws ids past them too: no collision.
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(BudgetLineItem.__table__.insert().values(status="DRAFT", line_description="by OPS"))
            by_ops = conn.execute(select(BudgetLineItem.id).where(BudgetLineItem.line_description == "by OPS")).scalar()
        assert by_ops > later
    finally:
        engine.dispose()


def test_a_workbook_mixing_new_ids_and_lines_without_id_assigns_no_id_twice(db_url, runs_root, make_workbook):
    rows = [good_row(budget_id="new", desc="A"), good_row(budget_id=70001, desc="B"),
            good_row(budget_id=None, desc="C"), good_row(budget_id=70003, desc="D")]
    result = load(staged(make_workbook(rows), runs_root), db_url=db_url)
    assert result["entities"]["budget_line_item"]["inserted"] == 4
    stored = lines(db_url)
    assert {stored[70001][0], stored[70003][0]} == {"B", "D"}
    assert all(i > 70003 for i, v in stored.items() if v[0] in ("A", "C"))


# -- dry run and report -------------------------------------------------------------------------

def test_a_dry_run_counts_what_a_real_load_does_and_writes_nothing(db_url, runs_root, tmp_path, make_workbook):
    workbook = write_sample_workbook(tmp_path / "budget.xlsx", rows=250, seed=9, dirty=False)
    load(staged(make_workbook([good_row(budget_id=15000)]), runs_root), db_url=db_url)  # something to match
    before = table_counts(db_url)
    run = staged(workbook, runs_root)
    dry = load(run, db_url=db_url, dry_run=True)
    assert dry["dry_run"] is True
    assert table_counts(db_url) == before
    real = load(run, db_url=db_url)
    assert dry["entities"] == real["entities"] and dry["findings"] == real["findings"]
    assert sum(real["entities"]["budget_line_item"].values()) == 250


@pytest.mark.postgres
def test_the_report_names_the_postgres_database_the_time_and_the_counts(pg_schema_url, runs_root, tmp_path):
    workbook = write_sample_workbook(tmp_path / "budget.xlsx", rows=120, seed=4, dirty=False)
    where = make_url(pg_schema_url)
    result = CliRunner().invoke(cli, ["-q", "--runs-root", str(runs_root), "run", str(workbook),
                                      "--db", pg_schema_url, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "succeeded"
    assert report["database"] == {"dialect": "postgresql", "host": where.host, "port": where.port,
                                  "database": where.database}
    assert 0 < report["load"]["seconds"] < 60 and report["plan"] is None
    assert report["entities"]["budget_line_item"] == {"inserted": 120, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    assert table_counts(pg_schema_url)["budget_line_item"] == 120

    text_report = CliRunner().invoke(cli, ["-q", "report", report["run_dir"]]).stdout
    assert f"Database: postgresql {where.host} {where.database} in {report['load']['seconds']:.2f} s" in text_report
    assert "budget_line_item │ 120" in text_report
    markdown = CliRunner().invoke(cli, ["-q", "report", report["run_dir"], "--format", "md"]).stdout
    assert f"Database: postgresql {where.host} {where.database} in {report['load']['seconds']} s" in markdown
    assert "| budget_line_item | 120 | 0 | 0 |" in markdown
    for seen in (result.output, text_report, markdown):
        assert where.password not in seen

    dry = CliRunner().invoke(cli, ["-q", "--runs-root", str(runs_root), "run", str(workbook),
                                   "--db", pg_schema_url, "--format", "json", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    dry_report = json.loads(dry.stdout)
    assert dry_report["status"] == "dry-run" and dry_report["load"] is None and dry_report["entities"] == {}
    assert dry_report["plan"]["entities"]["budget_line_item"] == {"would_insert": 0, "would_update": 0,
                                                                 "would_leave_unchanged": 120}
    assert dry_report["plan"]["database"] == report["database"]


# -- limits: what the database would refuse is a validation finding ----------------------------

def test_the_sheet_name_limit_of_validation_is_the_lineage_column_length():
    from ops_pipeline.datasets.base import MAX_SHEET_NAME
    from ops_pipeline.db.models import Lineage

    assert Lineage.__table__.c.sheet.type.length == MAX_SHEET_NAME


def test_a_sheet_name_longer_than_the_lineage_column_is_a_finding_not_a_load_error(db_url, runs_root, tmp_path):
    """Excel allows 31 characters; a crafted file may hold 150, which PostgreSQL refused at load."""
    import zipfile

    from .conftest import write_workbook

    plain = write_workbook(tmp_path / "plain.xlsx", [good_row()])
    crafted = tmp_path / "crafted.xlsx"
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(crafted, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = data.replace(b'name="All Budget - Cur"', b'name="' + b"S" * 150 + b'"')
            zout.writestr(item, data)
    result = CliRunner().invoke(cli, ["-q", "--runs-root", str(runs_root), "run", str(crafted), "--db", db_url,
                                      "--accept-rejects"])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        f"error: validate: crafted.xlsx: {'S' * 100}…: the sheet name has 150 characters, more than the 100 OPS "
        "stores (Excel allows 31) (hint: check the file is an OPS budget workbook)")
    assert table_counts(db_url)["budget_line_item"] == 0


def test_the_amount_limit_of_validation_is_the_column_precision():
    # PSCFee Amount is checked by the same rule; OPS keeps no fee amount on a line (not loaded).
    for column in (BudgetLineItem.__table__.c.amount,):
        digits, places = column.type.precision, column.type.scale
        assert MAX_AMOUNT == Decimal(10 ** (digits - places)) - Decimal(1).scaleb(-places)


def test_too_large_amounts_are_rejected_at_validate(db_url, runs_root, make_workbook):
    # Text limits are the OPS columns' declared lengths: tests/test_rules_columns.py.
    workbook = make_workbook([
        good_row(budget_id=15002, amount=12345678901.00),
        good_row(budget_id=15003, desc="fine", amount="$ 12,345,678,901.00"),
        good_row(budget_id=15004, desc="y" * 1000, amount=9999999999.99),  # exactly at the limit
    ])
    result = CliRunner().invoke(cli, ["-q", "--runs-root", str(runs_root), "run", str(workbook), "--db", db_url,
                                      "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "invalid"
    assert report["stages"]["load"]["status"] == "pending"
    assert report["findings"] == {"amount-out-of-range": 2}
    assert sorted(r["row"] for r in report["rejected_rows"]) == [2, 3]
    assert table_counts(db_url)["budget_line_item"] == 0

    # The row at the limits is accepted and the database takes it as it is.
    result = CliRunner().invoke(cli, ["-q", "--runs-root", str(runs_root), "run", str(workbook), "--db", db_url,
                                      "--accept-rejects", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert lines(db_url)[15004][:2] == ("y" * 1000, Decimal("9999999999.99"))


def test_dates_and_negative_amounts_round_trip_unchanged(db_url, runs_root, make_workbook):
    rows = [good_row(budget_id=15001, amount="(500.00)", date=dt.datetime(2024, 12, 31)),
            good_row(budget_id=15002, amount=0, fee=None, date="2/22/25", desc="zero")]
    load(staged(make_workbook(rows), runs_root), db_url=db_url)
    stored = lines(db_url)
    assert stored[15001][1:3] == (Decimal("-500.00"), dt.date(2024, 12, 31))
    assert stored[15002][1:3] == (Decimal("0.00"), dt.date(2025, 2, 22))
    again = load(staged(make_workbook(rows), runs_root), db_url=db_url)
    assert again["entities"]["budget_line_item"] == {"inserted": 0, "updated": 0, "unchanged": 2, "skipped": 0, "rejected": 0}


@pytest.mark.parametrize("staged_value, comparable", [
    ("1234.50", "1234.50"), ("-5.00", "-5.00"), ("-0.00", "0.00"), ("0.00", "0.00"), ("007.10", "7.10"),
    ("1e3", "1000.00"), ("12.5", "12.50"), (5, "5.00"), (Decimal("1.5"), "1.50"), (None, None),
])
def test_staged_amounts_compare_in_the_form_the_database_reads_back(staged_value, comparable):
    from ops_pipeline.db.load import money_text

    assert money_text(staged_value) == comparable
