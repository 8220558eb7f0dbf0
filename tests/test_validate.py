"""validate: every row ends valid, rejected or skipped; findings name the cell; PII is masked."""
import datetime as dt
import json

import pytest

from ops_pipeline.errors import DataInvalid, EncryptedFile, UnreadableFile
from ops_pipeline.rundir import read_jsonl
from ops_pipeline.stages.fetch import fetch
from ops_pipeline.stages.validate import validate

from .conftest import good_row

SHEET = "All Budget - Cur"


def _validate(path, runs_root, **kwargs):
    run = fetch(str(path), runs_root)
    return run, validate(run, **kwargs)


def _findings(run):
    return list(read_jsonl(run.path / "validate" / "findings.jsonl"))


def test_header_below_title_rows_and_every_row_accounted_for(make_workbook, runs_root):
    rows = [good_row(budget_id=1), [], good_row(budget_id=2, amount="$ 234,1552,303.08"),
            good_row(budget_id=None, cig_name="Placeholder"), good_row(budget_id=3), [],
            ["Total", None, None, None, None, None, None, 999]]
    path = make_workbook(rows, before=[["OPRE budget FY25"], ["draft - do not share"], []])
    run, summary = _validate(path, runs_root)
    assert summary["header_row"] == 4
    assert summary["rows"] == {"read": 7, "valid": 2, "rejected": 1, "skipped": 4}
    assert summary["outcome"] == "invalid"
    valid = [r["row"] for r in read_jsonl(run.path / "validate" / "valid_rows.jsonl")]
    rejected = [r["row"] for r in read_jsonl(run.path / "validate" / "rejected.jsonl")]
    skipped = {r["row"]: r["reason"] for r in read_jsonl(run.path / "validate" / "skipped.jsonl")}
    assert valid == [5, 9]
    assert rejected == [7]
    assert skipped == {6: "blank row", 8: "placeholder row (CIG Name is Placeholder)", 10: "blank row",
                       11: "totals row"}
    assert sorted(valid + rejected + list(skipped)) == list(range(5, 12))


def test_a_finding_names_the_cell_as_excel_shows_it(make_workbook, runs_root):
    path = make_workbook([good_row(), good_row(budget_id=2, amount="$ 234,1552,303.08", status="Pending")])
    run, summary = _validate(path, runs_root)
    findings = {f["code"]: f for f in _findings(run)}
    assert findings["bad-amount"]["cell"] == f"{SHEET}!H3"
    assert findings["bad-amount"]["value"] == "$ 234,1552,303.08"
    assert findings["unknown-status"]["cell"] == f"{SHEET}!J3"
    assert summary["findings"] == {"bad-amount": 1, "unknown-status": 1}


def test_valid_rows_carry_typed_values(make_workbook, runs_root):
    path = make_workbook([good_row(amount="(500.00)", date="2/22/25", status="obl", cig_type="Grants",
                                   can="G99ABCD(  HS-TA  )", budget_id="new")])
    run, _ = _validate(path, runs_root)
    [record] = list(read_jsonl(run.path / "validate" / "valid_rows.jsonl"))
    assert record["row"] == 2
    assert record["values"] == {
        "can_number": "G99ABCD", "can_description": "HS-TA", "budget_id": None,
        "project_title": "Child Care Research Partnerships", "agreement_name": "CCRP Contract",
        "agreement_type": "GRANT", "line_description": "Year 1 evaluation", "comments": "Per Jordan Alvarez",
        "date_needed": "2025-02-22", "amount": "-500.00", "proc_fee_amount": "61.73", "status": "OBLIGATED",
    }


def test_upper_snake_headers_and_loose_spelling_match(make_workbook, runs_root):
    header = ["can", "SYS_BUDGET_ID", "project_title", "CIG_NAME", "cig type", "LINE_DESC", "Date_Needed",
              "AMOUNT", "PROC_FEE_AMOUNT", "STATUS", "COMMENTS", "WHO_UPDATED", "Mystery"]
    path = make_workbook([good_row() + ["someone", "x"]], header=header, sheet="FY25")
    _, summary = _validate(path, runs_root)
    assert summary["rows"]["valid"] == 1
    assert summary["sheet"] == "FY25"
    assert summary["extra_columns"] == ["Mystery"]


def test_missing_required_column_is_one_finding_that_names_it(make_workbook, runs_root):
    header = ["CAN", "Sys_Budget_ID", "Project Title", "CIG Name", "CIG Type", "Line Desc", "Date Needed",
              "PSCFee Amount", "Status", "Comments"]
    row = good_row()
    del row[7]
    path = make_workbook([row], header=header, name="budget.xlsx")
    run = fetch(str(path), runs_root)
    with pytest.raises(DataInvalid) as caught:
        validate(run)
    assert caught.value.one_line() == (
        "validate: budget.xlsx: All Budget - Cur!1: required column 'Amount' missing from the header row "
        "(hint: check the file is an OPS budget workbook)")
    findings = _findings(run)
    assert [(f["code"], f["field"]) for f in findings] == [("missing-column", "amount")]
    run.reload()
    assert run.status("validate") == "failed"


def test_a_workbook_without_the_budget_header(make_workbook, runs_root):
    path = make_workbook([["a", "b"], [1, 2]], header=["Name", "Value"], sheet="Other")
    run = fetch(str(path), runs_root)
    with pytest.raises(DataInvalid, match="no sheet has a budget header row"):
        validate(run)
    assert [f["code"] for f in _findings(run)] == ["no-header"]


def test_the_budget_sheet_is_preferred_then_the_first_sheet_with_the_header(tmp_path, runs_root):
    from openpyxl import Workbook

    from .conftest import HEADER

    book = Workbook()
    book.active.title = "Notes"
    book.active.append(["Read me first"])
    other = book.create_sheet("Scratch")
    other.append(HEADER)
    other.append(good_row(budget_id=7))
    path = tmp_path / "two.xlsx"
    book.save(path)
    _, summary = _validate(path, runs_root)
    assert summary["sheet"] == "Scratch"
    book.create_sheet("All Budget - Cur").append(HEADER)
    book.save(path)
    _, summary = _validate(path, runs_root)
    assert summary["sheet"] == "All Budget - Cur"


def test_duplicate_budget_ids_are_rejected(make_workbook, runs_root):
    path = make_workbook([good_row(budget_id=5), good_row(budget_id=5)])
    run, summary = _validate(path, runs_root)
    [finding] = _findings(run)
    assert finding["code"] == "duplicate-budget-id"
    assert finding["message"] == "budget id 5 is also on row 2"
    assert finding["cell"] == f"{SHEET}!B3"


def test_pii_values_are_masked_in_findings(make_workbook, runs_root):
    secret = _xl("Call Jordan Alvarez \x07 at once")  # a control character: a finding on the Comments cell
    path = make_workbook([good_row(comments=secret, desc="reach me at jordan.alvarez@example.gov", amount="oops")])
    run, _ = _validate(path, runs_root)
    text = (run.path / "validate" / "findings.jsonl").read_text()
    findings = {f["code"]: f for f in _findings(run)}
    assert findings["control-character"]["value"] == "***"
    assert "Jordan" not in text
    rejected = (run.path / "validate" / "rejected.jsonl").read_text()
    assert "Jordan Alvarez" in rejected  # the staged data keeps values; only derived outputs mask them


def test_blank_rows_after_the_data_are_not_rows(make_workbook, runs_root):
    path = make_workbook([good_row()] + [[None] * 3] * 5)
    _, summary = _validate(path, runs_root)
    assert summary["rows"] == {"read": 1, "valid": 1, "rejected": 0, "skipped": 0}


def test_date_serials_follow_the_workbook_date_system(tmp_path, runs_root):
    from openpyxl import Workbook

    from .conftest import HEADER

    book = Workbook()
    book.epoch = __import__("openpyxl").utils.datetime.MAC_EPOCH
    ws = book.active
    ws.title = SHEET
    ws.append(HEADER)
    ws.append(good_row(date=44196))
    path = tmp_path / "mac.xlsx"
    book.save(path)
    run, summary = _validate(path, runs_root)
    assert summary["date1904"] is True
    [record] = list(read_jsonl(run.path / "validate" / "valid_rows.jsonl"))
    assert record["values"]["date_needed"] == "2025-01-01"


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
def test_both_readers_give_the_same_staged_rows(sample_workbook, runs_root, reader):
    run, summary = _validate(sample_workbook, runs_root, reader=reader)
    reference_run, reference = _validate(sample_workbook, runs_root, reader="auto")
    assert summary["rows"] == reference["rows"]
    assert summary["reader"] == reader
    mine = (run.path / "validate" / "valid_rows.jsonl").read_bytes()
    theirs = (reference_run.path / "validate" / "valid_rows.jsonl").read_bytes()
    assert mine == theirs


def test_not_a_workbook_is_one_clear_line(tmp_path, runs_root):
    path = tmp_path / "budget.xlsx"
    path.write_text("CAN,Amount\nG99XXX1,5\n")
    run = fetch(str(path), runs_root)
    with pytest.raises(UnreadableFile) as caught:
        validate(run)
    assert "\n" not in caught.value.one_line()
    assert "budget.xlsx" in caught.value.one_line()
    run.reload()
    assert run.stage_info("validate")["error"]["code"] == "unreadable-file"


def test_encrypted_workbook_says_so(corpus_dir, runs_root):
    run = fetch(str(corpus_dir / "calamine__pass_protected.xlsx"), runs_root)
    with pytest.raises(EncryptedFile, match="encrypted"):
        validate(run)


def test_summary_records_columns_and_reader(make_workbook, runs_root):
    path = make_workbook([good_row()])
    run, summary = _validate(path, runs_root)
    on_disk = json.loads((run.path / "validate" / "summary.json").read_text())
    assert on_disk == summary
    assert summary["columns"]["amount"] == "H"
    assert summary["reader"] == "calamine"


def test_date_cells_with_time_keep_the_day(make_workbook, runs_root):
    path = make_workbook([good_row(date=dt.datetime(2025, 10, 2, 15, 45))])
    run, _ = _validate(path, runs_root)
    [record] = list(read_jsonl(run.path / "validate" / "valid_rows.jsonl"))
    assert record["values"]["date_needed"] == "2025-10-02"


def test_error_cells_are_findings_not_empty_cells(make_workbook, runs_root):
    # calamine would read #REF! as an empty cell; auto mode notices and reads with openpyxl.
    run = fetch(str(make_workbook([good_row(budget_id=1), good_row(budget_id=2, amount="#REF!")])), runs_root)
    summary = validate(run)
    assert summary["reader"] == "openpyxl"
    [finding] = _findings(run)
    assert (finding["code"], finding["cell"]) == ("cell-error", f"{SHEET}!H3")
    assert summary["rows"]["valid"] == 1


def _xl(text):
    """A cell text as the workbook's XML escapes a control character (``_x0000_``): openpyxl will
    not write the character itself, calamine reads the escape back as the character."""
    import re

    return re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", lambda m: f"_x{ord(m[0]):04X}_", text)


#: (field of good_row, its column letter, a cell holding a NUL in that column)
NUL_CELLS = [
    ("can", "A", "G994648\x00 (CC)"), ("budget_id", "B", "17\x00"), ("project", "C", "Child\x00Care"),
    ("cig_name", "D", "CCRP\x00"), ("cig_type", "E", "contract\x00"), ("desc", "F", "Year\x001"),
    ("date", "G", "2025-03-11\x00"), ("amount", "H", "$ 1,234.00\x00"), ("fee", "I", "\x0061.73"),
    ("status", "J", "draft\x00"), ("comments", "K", "ok\x00"),
]


def test_a_nul_in_any_column_is_a_control_character_finding_naming_the_cell(make_workbook, runs_root):
    rows = [good_row(**{"budget_id": None, name: _xl(cell)}) for name, _, cell in NUL_CELLS] + [good_row(budget_id=None)]
    run, summary = _validate(make_workbook(rows), runs_root)
    assert summary["rows"] == {"read": 12, "valid": 1, "rejected": 11, "skipped": 0}
    assert summary["findings"] == {"control-character": 11}
    findings = _findings(run)
    assert [f["cell"] for f in findings] == [f"{SHEET}!{letter}{row}" for row, (_, letter, _) in
                                             enumerate(NUL_CELLS, start=2)]
    assert findings[0]["message"] == "the cell holds the control character U+0000 (NUL), which OPS does not store"
    assert findings[0]["value"] == "G994648\\x00 (CC)"
    assert findings[10]["value"] == "***"  # Comments is PII: masked as ever
    staged = (run.path / "validate" / "valid_rows.jsonl").read_text()
    assert "\\u0000" not in staged and "\x00" not in staged


@pytest.mark.parametrize("char", ["\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9b"])
def test_other_control_characters_are_findings_too(make_workbook, runs_root, char):
    """C0 (but tab, line feed, carriage return), DEL and C1: never typed text, and an escape
    sequence wherever the data is shown. Even where the column's rule would trim it away."""
    rows = [good_row(desc=_xl(f"Year {char}1")), good_row(budget_id=2, can=_xl(f"G994648{char}")),
            good_row(budget_id=3, amount=_xl(f"{char}12.00"))]
    run, summary = _validate(make_workbook(rows), runs_root)
    assert summary["rows"]["rejected"] == 3
    assert [(f["code"], f["cell"]) for f in _findings(run)] == [
        ("control-character", f"{SHEET}!F2"), ("control-character", f"{SHEET}!A3"), ("control-character", f"{SHEET}!H4")]


def test_tabs_and_line_breaks_in_text_are_text(make_workbook, runs_root):
    run, summary = _validate(make_workbook([good_row(desc="Year 1\tphase\r\nsecond line")]), runs_root)
    assert summary["rows"]["valid"] == 1
    assert summary["findings"] == {}


def test_huge_and_non_finite_numbers_are_findings_not_internal_errors(make_workbook, runs_root):
    rows = [good_row(budget_id=1, amount=1e27), good_row(budget_id=2, amount="1" * 30), good_row(budget_id=3, fee=1e300),
            good_row(budget_id=4, amount=-1e27), good_row(budget_id=5, amount=10_000_000_000),
            good_row(budget_id=6, amount="-" + "9" * 28 + ".00"), good_row(budget_id=7, fee=" (" + "9" * 40 + ")"),
            good_row(budget_id=8, date=1e300), good_row(budget_id=9, date=-1e300), good_row(budget_id=10, amount=1e-30),
            good_row(budget_id=11, amount=9999999999.99), good_row(budget_id="9" * 40)]
    run, summary = _validate(make_workbook(rows), runs_root)
    assert summary["findings"] == {"amount-out-of-range": 7, "bad-date": 2, "bad-budget-id": 1}
    assert [f["cell"] for f in _findings(run) if f["code"] == "amount-out-of-range"] == [
        f"{SHEET}!H2", f"{SHEET}!H3", f"{SHEET}!I4", f"{SHEET}!H5", f"{SHEET}!H6", f"{SHEET}!H7", f"{SHEET}!I8"]
    valid = {r["row"]: r["values"]["amount"] for r in read_jsonl(run.path / "validate" / "valid_rows.jsonl")}
    assert valid == {11: "0.00", 12: "9999999999.99"}
