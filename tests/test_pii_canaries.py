"""PII never leaks: canary values planted in a workbook never reach anything but the staged data.

The workbook carries canaries in a PII column (Comments: a name, which no regex can recognise),
in free-text columns (an e-mail address, an SSN-like number and a phone number in Line Desc,
Project Title, CIG Name and a CAN description), in cells that produce findings (a malformed amount
holding the e-mail, a status holding the SSN, a CIG Type holding the phone number, a control character in
a Comments cell and a true/false one), in the sheet name and in the file name. Every stage and every report
format then runs through the CLI, including failing runs, and every file the run wrote outside
the staged data -- and everything printed -- is searched for the canaries.

Staged data (exempt, it holds values as they are): ``fetch/`` (the source copy),
``validate/valid_rows.jsonl``, ``validate/rejected.jsonl``, ``validate/skipped.jsonl`` and
``transform/*.jsonl``. Everything else -- manifest.json, logs/events.jsonl,
validate/findings.jsonl, validate/summary.json, transform/summary.json, load/result.json,
report/* -- must be clean.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops_pipeline import redact
from ops_pipeline.cli import cli
from tests.conftest import HEADER, good_row, write_workbook

NAME = "Zebulon Canaryfield"
EMAIL = "zebulon.canary@example.gov"
SSN = "078-05-1120"
PHONE = "(202) 555-0143"

#: What must never be found outside the staged data (case-insensitive). The SSN and phone
#: number are also searched without their separators' spacing, as a renderer might re-wrap them.
NEEDLES = ("zebulon", "canaryfield", "zebulon.canary", "example.gov", "078-05-1120", "555-0143",
           "078051120", "2025550143")

#: The file name carries machine-detectable canaries; names cannot be recognised in a file name.
CANARY_FILE_NAME = f"FY25 budget {EMAIL} {SSN} {PHONE}.xlsx"
#: A sheet name holding a canary (31 characters at most; no : \ / ? * [ ]).
CANARY_SHEET = EMAIL

STAGED = re.compile(r"^(fetch/.*|validate/(valid_rows|rejected|skipped)\.jsonl|transform/[^/]+\.jsonl)$")


def canary_rows() -> list[list]:
    """Valid and invalid rows, in HEADER order, carrying every canary. Names (which no pattern
    recognises) are planted only in the PII column, Comments: in any other column a name is
    out of reach of masking (see SECURITY.md)."""
    rows = [
        # PII column: a name (only masking protects it), and detectable canaries too.
        good_row(budget_id=15001, comments=f"Per {NAME}, call {PHONE} or mail {EMAIL}, SSN {SSN}"),
        # Free text in a non-PII column: detectable canaries only.
        good_row(budget_id=15002, desc=f"Contact {EMAIL} re {SSN}, {PHONE}", comments=NAME),
        # A project title and an agreement name that end up in report questions, and a CAN
        # description that ends up in "CANs needing a portfolio decision".
        good_row(budget_id=15003, project=f"Study run by {EMAIL}", can="G99ABCD (HS-TA)",
                 cig_name=f"Agreement {SSN}", comments=NAME),
        good_row(budget_id=15004, project=f"Study run by {EMAIL}", can="G99WR01 (WR)",
                 cig_name=f"Agreement {SSN}", comments=NAME),
        good_row(budget_id=15005, can="G99NEW1 (call 202-555-0143)", comments=NAME),
        # Rejected rows: bad cells holding canaries, and canaries in every other cell.
        good_row(budget_id=15006, amount=EMAIL, comments=NAME),
        good_row(budget_id=15007, status=SSN, comments=f"{NAME} {EMAIL}"),
        good_row(budget_id=15008, cig_type=PHONE, desc=f"{EMAIL}?", comments=NAME),
        good_row(budget_id=15009, date=f"{EMAIL} {SSN}", comments=NAME),
        good_row(budget_id=15010, comments=f"{NAME} _x0007_"),  # a control character (BEL), as the XML escapes it
        good_row(budget_id=15011, comments=True, amount="twelve"),  # bad-text in a PII column
        good_row(budget_id=15012, can=f"{EMAIL}", fee=f"{SSN}"),
        good_row(budget_id=f"{SSN}", comments=NAME),
    ]
    return rows


def _scan_run(run_dir: Path) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in sorted(run_dir.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(run_dir).as_posix()
        if STAGED.match(rel):
            continue
        # Every non-staged file a run writes is text (JSON, JSON Lines, Markdown).
        found = _needles_in(path.read_text(encoding="utf-8"))
        if found:
            hits[rel] = found
    return hits


def _needles_in(text: str) -> list[str]:
    lowered = text.lower()
    compact = re.sub(r"[\s()\-]", "", lowered)
    return sorted({n for n in NEEDLES if n in lowered or (n.isdigit() and n in compact)})


def _invoke(runner: CliRunner, args: list[str]):
    result = runner.invoke(cli, args, catch_exceptions=False)
    printed = result.stdout + result.stderr
    return result, printed


@pytest.fixture
def canary_workbook(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    return write_workbook(folder / CANARY_FILE_NAME, canary_rows(), sheet=CANARY_SHEET)


def _assert_clean(runs_root: Path, printed: dict[str, str]) -> None:
    leaks = {}
    for run_dir in sorted(p for p in runs_root.iterdir() if p.is_dir()):
        for rel, found in _scan_run(run_dir).items():
            leaks[f"{run_dir.name}/{rel}"] = found
    for what, text in printed.items():
        found = _needles_in(text)
        if found:
            leaks[f"printed by: {what}"] = found
    assert leaks == {}, "canaries leaked:\n" + json.dumps(leaks, indent=1)


def test_canary_workbook_is_what_the_test_thinks(canary_workbook, runs_root):
    """Guard against a test that passes because nothing was read: the canaries are in the staged
    data, the PII column holds the name, and the rows are rejected for the planted reasons."""
    from ops_pipeline.stages.fetch import fetch
    from ops_pipeline.stages.validate import validate

    run = fetch(str(canary_workbook), runs_root)
    summary = validate(run)
    assert summary["rows"] == {"read": 13, "valid": 5, "rejected": 8, "skipped": 0}
    assert {"bad-amount", "unknown-status", "unknown-agreement-type", "bad-date", "control-character", "bad-text",
            "bad-can"} <= set(summary["findings"])
    staged = (run.path / "validate" / "valid_rows.jsonl").read_text() + \
        (run.path / "validate" / "rejected.jsonl").read_text()
    for needle in (NAME, EMAIL, SSN, PHONE):
        assert needle in staged
    # The source copy is byte-for-byte the file (staged data is never masked).
    copy = next((run.path / "fetch").iterdir())
    assert copy.read_bytes() == canary_workbook.read_bytes()


def test_no_canary_leaks_from_any_stage_or_report_format(canary_workbook, runs_root, sqlite_url):
    runner = CliRunner()
    base = ["--runs-root", str(runs_root)]
    printed: dict[str, str] = {}

    # The whole pipeline, in every report format, accepting the rejected rows.
    for fmt in ("text", "json", "md"):
        result, out = _invoke(runner, base + ["run", str(canary_workbook), "--db", sqlite_url,
                                              "--accept-rejects", "--format", fmt])
        assert result.exit_code == 0, out
        printed[f"run --accept-rejects --format {fmt}"] = out

    # Stage by stage, with --json wherever a command has it.
    result, out = _invoke(runner, base + ["fetch", str(canary_workbook)])
    assert result.exit_code == 0, out
    printed["fetch"] = out
    run_dir = result.stdout.strip()
    result, out = _invoke(runner, base + ["validate", run_dir, "--json"])
    assert result.exit_code == 1, out  # rows rejected
    printed["validate --json"] = out
    result, out = _invoke(runner, base + ["validate", run_dir, "--reader", "openpyxl"])
    assert result.exit_code == 1, out
    printed["validate --reader openpyxl"] = out
    result, out = _invoke(runner, base + ["transform", run_dir])
    assert result.exit_code == 1, out  # refuses without --accept-rejects
    printed["transform (refused)"] = out
    for extra in ([], ["--json"]):
        result, out = _invoke(runner, base + ["transform", run_dir, "--accept-rejects", *extra])
        assert result.exit_code == 0, out
        printed[f"transform --accept-rejects {extra}"] = out
    for extra in (["--dry-run"], ["--json"], []):
        result, out = _invoke(runner, base + ["load", run_dir, "--db", sqlite_url, *extra])
        assert result.exit_code == 0, out
        printed[f"load {extra}"] = out
    for fmt in ("text", "json", "md"):
        result, out = _invoke(runner, base + ["report", run_dir, "--format", fmt])
        assert result.exit_code == 0, out
        printed[f"report --format {fmt}"] = out

    # Failing runs: rejected rows without --accept-rejects, with --debug too.
    for extra in ([], ["--debug"]):
        result, out = _invoke(runner, base + extra + ["run", str(canary_workbook), "--db", sqlite_url])
        assert result.exit_code == 1, out
        printed[f"run (rejected) {extra}"] = out

    # An unreachable database.
    result, out = _invoke(runner, base + ["--debug", "run", str(canary_workbook), "--accept-rejects", "--db",
                                          "postgresql+psycopg://ops@127.0.0.1:9/ops?connect_timeout=2"])
    assert result.exit_code == 3, out
    printed["run (database unreachable)"] = out

    _assert_clean(runs_root, printed)
    # The report still says what happened, with masked values.
    # (A run validated with calamine: the stage-by-stage run was validated again with openpyxl,
    # which reads one of the canary cells differently; the order of iterdir() is the file system's.)
    report = next(json.loads(path.read_text()) for path in sorted(runs_root.glob("*/report/report.json"))
                  if json.loads((path.parent.parent / "validate" / "summary.json").read_text())["reader"] != "openpyxl")
    assert report["rows"]["rejected"] == 8
    assert report["findings_detail"]["bad-amount"]["first"][0]["value"] == "<email>"


def test_no_canary_leaks_when_a_required_column_is_missing(tmp_path, runs_root):
    header = [h for h in HEADER if h != "Amount"]
    rows = [[v for h, v in zip(HEADER, good_row(comments=f"{NAME} {EMAIL}", desc=f"{SSN} {PHONE}"))
             if h != "Amount"]]
    # The header row itself holds a canary: an unknown column named after a person's e-mail.
    path = write_workbook(tmp_path / CANARY_FILE_NAME, rows, header=header + [EMAIL], sheet=CANARY_SHEET)
    runner = CliRunner()
    printed = {}
    for fmt in ("text", "json", "md"):
        result, out = _invoke(runner, ["--runs-root", str(runs_root), "run", str(path), "--db", "sqlite://",
                                       "--format", fmt])
        assert result.exit_code == 1, out
        assert "required column 'Amount' missing" in out
        printed[fmt] = out
    _assert_clean(runs_root, printed)


def test_no_canary_leaks_when_a_header_is_duplicated(tmp_path, runs_root):
    """The duplicate-column finding quotes the header text; a header holding an e-mail is masked."""
    header = HEADER + ["Comments"]
    header[5] = f"Line Desc {EMAIL}"
    path = write_workbook(tmp_path / "dup.xlsx", [good_row() + ["x"]], header=header + [f"{SSN}", f"{SSN}"])
    result, out = _invoke(CliRunner(), ["--runs-root", str(runs_root), "run", str(path), "--db", "sqlite://"])
    assert result.exit_code == 1, out
    _assert_clean(runs_root, {"run": out})


def _patch_sheet_xml(src: Path, dst: Path, old: bytes, new: bytes) -> Path:
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                assert old in data
                data = data.replace(old, new)
            zout.writestr(info, data)
    return dst


@pytest.mark.parametrize("cell_type", ["n", "b", "e", "s", "d"])
@pytest.mark.parametrize("reader", ["calamine", "openpyxl", "auto"])
def test_a_malformed_cell_is_not_quoted_in_the_error(tmp_path, runs_root, sqlite_url, cell_type, reader):
    """A Comments cell (PII) whose XML holds a name where its type says number, boolean, error,
    shared-string index or date makes the readers fail or misread, and their exception messages
    quote the text. The error the operator sees -- and the manifest, event log and findings --
    must not: the value of a PII column is only ever masked."""
    src = write_workbook(tmp_path / "src.xlsx", [good_row(comments=7)])
    path = _patch_sheet_xml(src, tmp_path / "book.xlsx", b'<c r="K2" t="n"><v>7</v>',
                            f'<c r="K2" t="{cell_type}"><v>{NAME}</v>'.encode())
    runner = CliRunner()
    printed = {}
    for extra in ([], ["--debug"]):
        result, out = _invoke(runner, ["--runs-root", str(runs_root), *extra, "run", str(path), "--db", sqlite_url,
                                       "--reader", reader, "--format", "json"])
        # A finding or a clear data error -- never a crash. calamine reads a t="d" cell holding
        # text as that text (a Comments value like any other), so that run succeeds.
        assert result.exit_code == (0 if (cell_type, reader) in {("d", "calamine"), ("d", "auto")} else 1), out
        if not extra:
            assert "internal error" not in out and "Traceback" not in out, out
        printed[f"{extra}"] = out
    _assert_clean(runs_root, printed)


def test_notification_of_a_canary_run_is_clean(canary_workbook, runs_root, sqlite_url):
    from ops_pipeline.notify import notification_from_report, render_text
    from ops_pipeline.pipeline import run_pipeline

    outcome = run_pipeline(str(canary_workbook), runs_root=runs_root, db_url=sqlite_url, accept_rejects=True)
    subject, body = render_text(notification_from_report(outcome.report))
    assert _needles_in(json.dumps(notification_from_report(outcome.report)) + subject + body) == []


def test_scrubbing_does_not_touch_ordinary_values():
    """What the masking must leave alone: dates, amounts, CANs, run ids, sha256 digests."""
    from ops_pipeline.redact import scrub_text

    for text in ("2025-03-11", "$ 1,234.00", "(500.00)", "G994648 (CC - SB - 5 YR)", "20261126T202410Z-3f9c1a",
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "All Budget - Cur!H14",
                 str(dt.date(2025, 10, 1))):
        assert scrub_text(text) == text


#: Formats the first detectors missed: SSNs without separators, with spaces or non-ASCII dashes,
#: e-mail addresses with non-ASCII letters, international and 7-digit phone numbers.
WIDER_CANARIES = {
    "ssn digits": "078051120",
    "ssn spaces": "078 05 1120",
    "ssn hyphen U+2010": "078\u201005\u20101120",
    "ssn non-breaking hyphen U+2011": "078\u201105\u20111120",
    "ssn figure dash U+2012": "078\u201205\u20121120",
    "ssn en dash U+2013": "078\u201305\u20131120",
    "ssn minus U+2212": "078\u221205\u22121120",
    "email non-ascii": "zebulón@exämple.org",
    "email full-width at": "zebulon\uff20example.org",
    "phone uk": "+44 20 7946 0958",
    "phone us intl": "+1 (202) 555-0143",
    "phone france": "+33 (0)1 23 45 67 89",
    "phone 7 digits": "555-0143",
    "phone 7 digits space": "555 0143",
    "phone 7 digits en dash": "555\u20130143",
}


@pytest.mark.parametrize("canary", WIDER_CANARIES.values(), ids=WIDER_CANARIES.keys())
def test_wider_pii_formats_do_not_leak(canary, tmp_path, runs_root, sqlite_url):
    """Each format, planted in free-text columns, bad cells (findings quote them), the sheet name
    and the file name, reaches no report, finding, event, manifest or terminal line."""
    rows = [good_row(budget_id=15001, desc=f"Contact {canary} today", comments=NAME),
            good_row(budget_id=15002, project=f"Study run by {canary}", cig_name=f"Agreement {canary}"),
            good_row(budget_id=15003, amount=canary, status=canary, comments=NAME),
            good_row(budget_id=15004, date=canary, cig_type=canary)]
    folder = tmp_path / "in"
    folder.mkdir()
    book = write_workbook(folder / f"FY25 {canary}.xlsx", rows, sheet=f"Budget {canary}"[:31])
    printed = {}
    for fmt in ("text", "json", "md"):
        result, out = _invoke(CliRunner(), ["--runs-root", str(runs_root), "run", str(book), "--db", sqlite_url,
                                            "--accept-rejects", "--format", fmt])
        assert result.exit_code in (0, 1), out
        printed[fmt] = out
    digits = "".join(ch for ch in canary if ch.isdigit())
    for run_dir in sorted(p for p in runs_root.iterdir() if p.is_dir()):
        staged = [p for p in run_dir.rglob("*") if p.is_file() and STAGED.match(p.relative_to(run_dir).as_posix())]
        assert any(canary in p.read_text("utf-8", "replace") for p in staged if p.suffix == ".jsonl")
        for path in run_dir.rglob("*"):
            rel = path.relative_to(run_dir).as_posix()
            if path.is_file() and not STAGED.match(rel):
                printed[rel] = path.read_text(encoding="utf-8")
    for where, text in printed.items():
        compact = "".join(ch for ch in text if ch.isdigit() or ch.isalpha() or ch in "@\uff20")
        assert canary not in text, where
        assert "exämple" not in text and "zebul" not in text.lower(), where
        assert len(digits) < 7 or digits not in compact, where


@pytest.mark.parametrize("text, masked", [
    ("SSN 078051120.", "SSN <ssn>."),
    ("file_078051120.xlsx", "file_<ssn>.xlsx"),
    ("078 05 1120", "<ssn>"),
    ("078\u201005\u20101120", "<ssn>"),
    ("078\u221205\u22121120", "<ssn>"),
    ("mail josé@exämple.org now", "mail <email> now"),
    ("δοκιμή@παράδειγμα.ελ", "<email>"),
    ("call +44 20 7946 0958", "call <phone>"),
    ("call +1 (202) 555-0143!", "call <phone>!"),
    ("call 555-0143 or 555 0143", "call <phone> or <phone>"),
    ("202\u2013555\u20130143", "<phone>"),
])
def test_wider_pii_formats_are_masked(text, masked):
    from ops_pipeline.redact import scrub_text

    assert scrub_text(text) == masked


def test_wider_detectors_leave_amounts_and_ids_alone():
    """Nine-digit amounts with decimals, round amounts, budget ids, fiscal years, versions,
    negative and signed numbers too short to be phone numbers stay as they are."""
    from ops_pipeline.redact import scrub_text

    for text in ("123456789.00", "$123,456,789.00", "250000000", "100000000.5", "900123456", "15001",
                 "FY2025 1,234.56", "v1.2.3", "+1.5", "+42", "12:30", "1/2/2025", "Q3 2025",
                 "3.1415926", "0.5550143", "BL 15001-15002", "sha256:" + "a1" * 32):
        assert scrub_text(text) == text, text


# == The rules those runs pass through, one at a time (mutation testing found them unpinned) =====
# What a library's exception may still say (safe_reason), how a PII value shows in a finding
# (mask_value), and the edges of the pattern and value scrubbers.

# -- safe_reason: a library's message, without what it quotes from the file ----------------------

def test_a_quoted_cell_value_is_dropped_from_a_reason():
    assert redact.safe_reason(ValueError("could not convert string to float: 'Jane Doe'")) == \
        "could not convert string to float: '...'"
    assert redact.safe_reason(ValueError('bad cell "Jane Doe" in row 4')) == 'bad cell "..." in row 4'


def test_what_follows_the_last_colon_is_dropped_unless_quoted_or_a_part_name():
    assert redact.safe_reason(ValueError("Unrecognized boolean cell value: Jane Doe")) == \
        "Unrecognized boolean cell value: ..."
    assert redact.safe_reason(ValueError("sheet: row: Jane Doe")) == "sheet: row: ..."
    assert redact.safe_reason(ValueError('bad value: "Jane"')) == 'bad value: "..."'
    assert redact.safe_reason(ValueError("bad value: 'Jane'")) == "bad value: '...'"
    assert redact.safe_reason(ValueError("missing part: xl/workbook.xml")) == "missing part: xl/workbook.xml"
    # the part name is recognised even with the spaces the first line keeps at its end
    assert redact.safe_reason(ValueError("missing part: xl/workbook.xml   \nmore")) == "missing part: xl/workbook.xml   "
    assert redact.safe_reason(ValueError("no colon here, Jane Doe")) == "no colon here, Jane Doe"


def test_a_quoted_zip_part_name_stays_in_a_reason():
    assert redact.safe_reason(ValueError("cannot read 'xl/worksheets/sheet1.xml' at 'Jane'")) == \
        "cannot read 'xl/worksheets/sheet1.xml' at '...'"
    assert redact.safe_reason(ValueError('cannot read "XL/_RELS/.RELS" now')) == 'cannot read "XL/_RELS/.RELS" now'


def test_a_key_error_naming_a_zip_part_reads_as_its_sentence():
    """zipfile raises KeyError("There is no item named 'xl/sharedStrings.xml' in the archive");
    str() of a KeyError is the repr of its key, which would hide the part name in quotes."""
    missing = KeyError("There is no item named 'xl/sharedStrings.xml' in the archive")
    assert redact.safe_reason(missing) == "There is no item named 'xl/sharedStrings.xml' in the archive"


def test_a_key_error_of_anything_else_stays_quoted_hence_dropped():
    assert redact.safe_reason(KeyError("Jane Doe")) == "'...'"
    assert redact.safe_reason(KeyError("Jane Doe said 'hello there'")) == '"..."'
    assert redact.safe_reason(KeyError("xl/workbook.xml")) == "'xl/workbook.xml'"
    assert redact.safe_reason(KeyError(42)) == "42"
    # two arguments: str() is the repr of the tuple, whose quoted items both go
    assert redact.safe_reason(KeyError("There is no item named 'xl/a.xml'", "Jane")) == "(\"...\", '...')"


def test_a_reason_is_the_first_line_or_the_exception_s_name():
    assert redact.safe_reason(ValueError("first line\nsecond line: Jane Doe")) == "first line"
    assert redact.safe_reason(ValueError("  \n  first line  \n")) == "first line"
    assert redact.safe_reason(ValueError("")) == "ValueError"
    assert redact.safe_reason(OSError()) == "OSError"


def test_a_reason_is_scrubbed_and_cut():
    assert redact.safe_reason(ValueError("mail jane.doe@example.org bounced")) == "mail <email> bounced"
    assert redact.safe_reason(ValueError("x" * 300)) == "x" * 200
    assert redact.safe_reason(ValueError("x" * 300), limit=10) == "x" * 10


# -- mask_value: a PII value in a finding ----------------------------------------------------------

@pytest.mark.parametrize("value, shown", [(None, ""), ("", ""), ("Jane Doe", "***"), (0, "***"), (" ", "***")])
def test_a_pii_value_shows_only_whether_it_was_blank(value, shown):
    assert redact.mask_value(value) == shown


# -- the pattern scrubber's edges ------------------------------------------------------------------

@pytest.mark.parametrize("digits, text, masked", [
    (6, "+1 23 456", False),
    (7, "+1 234 567", True),
    (15, "+123 456 789 012 345", True),
    (16, "+1234 5678 9012 3456", False),
])
def test_an_international_number_is_a_phone_number_with_7_to_15_digits(digits, text, masked):
    """E.164 allows 7 to 15 digits; a longer or shorter "+" number is something else (an id)."""
    assert sum(ch.isdigit() for ch in text) == digits
    assert redact.scrub_text(f"call {text} now") == ("call <phone> now" if masked else f"call {text} now")


# -- scrub_data: the JSON documents of a run (manifest, summaries, events) -------------------------

def test_every_string_of_a_document_is_scrubbed_keys_too_except_the_kept_paths():
    doc = {"title": "call 555-0143", "path": "runs/jane.doe@example.org.xlsx", "rows": 3, 7: "seven",
           "files": ["jane.doe@example.org", ("078-05-1120", None)], "jane.doe@example.org": True,
           "nested": {"path": ["jane.doe@example.org"], "note": "pw Pa55word-canary"}, (1, 2): "pair",
           "outputs": [{"path": "runs/jane.doe@example.org"}], "key Pa55word-canary": 1}
    assert redact.scrub_data(doc, keep=frozenset({"path"}), secrets=["Pa55word-canary"]) == {
        "title": "call <phone>", "path": "runs/jane.doe@example.org.xlsx", "rows": 3, 7: "seven",
        "files": ["<email>", ["<ssn>", None]], "<email>": True,
        "nested": {"path": ["<email>"], "note": "pw ***"}, (1, 2): "pair",
        "outputs": [{"path": "runs/jane.doe@example.org"}], "key ***": 1}
    assert redact.scrub_data("runs/jane.doe@example.org", keep=frozenset({"path"})) == "runs/<email>"  # values of keys


def test_a_document_is_scrubbed_of_the_secrets_given_or_else_of_the_known_ones(monkeypatch):
    monkeypatch.setenv("OPS_PIPELINE_WEBHOOK_SECRET", "Known-Canary-Secret")
    doc = ["Known-Canary-Secret", "Given-Canary-Secret", "Given-Canary-Secret"]
    assert redact.scrub_data(doc) == ["***", "Given-Canary-Secret", "Given-Canary-Secret"]
    # any iterable, used for every string (a generator is read once)
    assert redact.scrub_data(doc, secrets=(s for s in ["Given-Canary-Secret"])) == \
        ["Known-Canary-Secret", "***", "***"]
