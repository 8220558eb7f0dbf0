"""The money in the report: totals, groups, the totals-row reconciliation, in every format."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from ops_pipeline.money import dollars
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.stages.report import render
from tests.conftest import good_row, write_workbook


@pytest.fixture(scope="module")
def mismatched(tmp_path_factory, _sqlite_template):
    """Loaded with accepted rejects: 1234.50 + 100.00 valid (FY2025 and FY2026), 99.00 rejected,
    a Placeholder row of 50.00 skipped, and a totals row of 2000.00 that matches nothing."""
    import shutil

    folder = tmp_path_factory.mktemp("money")
    db = folder / "ops.db"
    shutil.copy(_sqlite_template, db)
    rows = [good_row(),
            good_row(budget_id=15002, desc="Year 2", amount=100, date=dt.datetime(2025, 10, 2), status="obligated"),
            good_row(budget_id=15003, desc="Year 3", amount=99, status="pending <b>review</b>"),
            good_row(budget_id=None, cig_name="Placeholder", amount=50),
            [],
            ["Total", None, None, None, None, None, None, 2000]]
    book = write_workbook(folder / "budget.xlsx", rows)
    outcome = run_pipeline(str(book), runs_root=folder / "runs", db_url=f"sqlite:///{db}", accept_rejects=True)
    assert outcome.report["status"] == "succeeded"
    return outcome.report


def test_the_totals_in_dollars(mismatched):
    money = mismatched["money"]
    assert {k: money[k] for k in ("read", "valid", "loaded", "rejected", "skipped")} == {
        "read": "1483.50", "valid": "1334.50", "loaded": "1334.50", "rejected": "99.00", "skipped": "50.00"}
    assert money["by_status"] == {"OBLIGATED": {"lines": 1, "valid": "100.00", "loaded": "100.00"},
                                  "PLANNED": {"lines": 1, "valid": "1234.50", "loaded": "1234.50"}}
    assert list(money["by_fiscal_year"]) == ["FY2025", "FY2026"]


def test_a_totals_row_that_does_not_match_is_a_finding_with_both_figures(mismatched):
    reconciliation = mismatched["money"]["reconciliation"]
    assert reconciliation["status"] == "mismatch"
    assert (reconciliation["workbook_total"], reconciliation["pipeline_total"]) == ("2000.00", "1334.50")
    assert reconciliation["cell"] == "All Budget - Cur!H7"
    assert reconciliation["explained"] is False
    finding = mismatched["findings_detail"]["totals-mismatch"]["first"][0]
    assert finding["cell"] == "All Budget - Cur!H7" and finding["value"] == "$2,000.00"
    assert finding["message"] == ("the workbook's totals row says $2,000.00; the lines loaded add up to $1,334.50 "
                                  "(difference $665.50; rejected rows $99.00, skipped $50.00)")
    assert mismatched["findings"]["totals-mismatch"] == 1


@pytest.mark.parametrize("fmt", ["text", "md"])
def test_text_and_markdown_show_the_money_and_each_finding_s_message_and_value(mismatched, fmt):
    out = render(mismatched, fmt)
    assert "Amount read $1,483.50 = valid $1,334.50 + rejected $99.00 + skipped $50.00; loaded $1,334.50" in \
        out.replace("\\", "")
    assert "DOES NOT MATCH" in out
    assert "$1,234.50" in out and "FY2026" in out
    # The finding's message and its value beside the cell reference; the comment (PII) masked.
    assert "unknown status" in out and "review" in out
    assert "Jordan" not in out


def test_json_carries_the_money_exactly(mismatched):
    assert json.loads(render(mismatched, "json"))["money"] == mismatched["money"]


def test_dollars():
    assert dollars("1234.5") == "$1,234.50"
    assert dollars("-5") == "-$5.00"
    assert dollars(None) == ""


def test_the_groups_add_every_valid_line_once_whatever_its_status_date_or_load_outcome(tmp_path):
    """by status and by fiscal year, summed line by line here and compared with the report's: lines
    sharing a status and a date, a line without a date, a date that is not one, an amount with more
    than two places, an amount that is not one (not counted), and a line the load refused."""
    from types import SimpleNamespace

    from ops_pipeline.money import money_summary

    validate = tmp_path / "validate"
    validate.mkdir()
    lines = [
        (1, "10.00", "PLANNED", "2025-09-30"), (2, "20.005", "PLANNED", "2025-09-30"),
        (3, "5", "PLANNED", "2025-10-01"), (4, "7.25", "DRAFT", None), (5, "1.10", None, "not a date"),
        (6, "2.20", "DRAFT", "2025-09-30"), (7, "not money", "DRAFT", "2025-09-30"), (8, "", "DRAFT", None),
        (9, 3, "OBLIGATED", "2026-12-01"),
    ]
    with open(validate / "valid_rows.jsonl", "w") as handle:
        for row, amount, status, day in lines:
            values = {"amount": amount, "status": status, "date_needed": day}
            handle.write(json.dumps({"row": row, "values": values}) + "\n")
    for name in ("rejected.jsonl", "skipped.jsonl"):
        (validate / name).write_text("")
    (validate / "summary.json").write_text("{}")
    dataset = SimpleNamespace(money=("amount", "status", "date_needed"), rules={})

    money = money_summary(SimpleNamespace(path=tmp_path), dataset, loaded=True, refused_rows={6})

    from decimal import Decimal
    expected_status: dict = {}
    expected_year: dict = {}
    years = {"2025-09-30": "FY2025", "2025-10-01": "FY2026", "2026-12-01": "FY2027"}
    for row, amount, status, day in lines:
        if row in (7, 8):
            continue
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
        loaded = Decimal("0.00") if row == 6 else value
        for table, name in ((expected_status, status or "(none)"), (expected_year, years.get(day, "(no date)"))):
            entry = table.setdefault(name, {"lines": 0, "valid": Decimal("0.00"), "loaded": Decimal("0.00")})
            entry["lines"] += 1
            entry["valid"] += value
            entry["loaded"] += loaded

    def text(table):
        return {k: {"lines": v["lines"], "valid": str(v["valid"]), "loaded": str(v["loaded"])}
                for k, v in table.items()}

    assert money["by_status"] == text(expected_status)
    assert money["by_fiscal_year"] == text(expected_year)
    assert (money["valid"], money["loaded"]) == ("48.55", "46.35")  # 20.005 rounds half to even: 20.00


def test_a_line_the_load_refuses_is_valid_money_but_not_loaded_money(tmp_path, sqlite_url):
    """A current-layout line naming a BL ID # OPS does not have passes validate, and the load refuses
    it (an error finding on its row): loaded with accepted rejects, its amount counts as valid, not
    as loaded."""
    from ops_pipeline.datasets.budget_current import HEADERS

    line = dict.fromkeys(HEADERS)
    line.update({"Portfolio": "CC", "Project": "CC Study", "Agreement": "CC Contract", "Agreement Type": "Contract",
                 "Obligate By": "2025-03-11", "FY": 2025, "CAN": "G99CC01 (CC)", "Status": "draft"})
    rows = [[*{**line, "BL ID #": "new", "Description": "first", "SubTotal": 1000}.values()],
            [*{**line, "BL ID #": 777, "Description": "unknown", "SubTotal": 250}.values()]]
    book = write_workbook(tmp_path / "current.xlsx", rows, header=list(HEADERS), sheet="FY25 Budget")
    outcome = run_pipeline(str(book), runs_root=tmp_path / "runs", db_url=sqlite_url, accept_rejects=True)
    report = outcome.report
    assert report["entities"]["budget_line_item"]["rejected"] == 1
    assert report["findings_detail"]["unknown-budget-id"]["first"][0]["cell"] == "FY25 Budget!A3"
    money = report["money"]
    assert (money["read"], money["valid"], money["loaded"]) == ("1250.00", "1250.00", "1000.00")
