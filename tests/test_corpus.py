"""Hostile and odd real-world files: every one ends in rows or one clear error line, quickly.

Each file of the corpus (tests/corpus/real, see SOURCES.md and the licences there) goes through ``fetch`` and
``validate`` with each reader (calamine, openpyxl and auto) in a child process with a timeout
and an address-space limit, so that a hang or a memory explosion fails the test instead of
hanging CI. The expected outcome of every (file, reader) is in the table below: none of these
files is a budget workbook, so "no budget header" is the usual, correct answer.

The two silent dangers get their own tests: openpyxl's read-only mode trusting a too-small
dimension record (rows dropped) and opening Strict OOXML as a workbook without sheets. The two
readers must give the same typed rows wherever both can read a file; the few genuine
differences are listed, narrowly, in KNOWN_DIFFERENCES.
"""
from __future__ import annotations

import datetime as dt
import os
import pickle
import resource
import shutil
import tempfile
import time
import traceback
import zipfile
from multiprocessing import get_context
from pathlib import Path

import pytest

from ops_pipeline.errors import EncryptedFile, LimitExceeded, PipelineError
from ops_pipeline.readers.guard import Limits
from ops_pipeline.readers.workbook import CellError, open_workbook
from tests.conftest import CORPUS, corpus_files, good_row, require_corpus

READERS = ("calamine", "openpyxl", "auto")
TIMEOUT = 30.0  # wall-clock seconds per child: a hang is killed and fails its test
MAX_SECONDS = 10.0  # CPU seconds per file: "a few seconds each" (the slowest takes about 4)
ADDRESS_SPACE = 2 << 30  # 2 GiB

# -- the expected outcomes --------------------------------------------------------------------

NO_HEADER = ("DataInvalid", "no sheet has a budget header row")
TEXT = ("UnreadableFile", "is a text/CSV file, not an Excel workbook")
ENCRYPTED = ("EncryptedFile", "this workbook is encrypted (password protected)")
DAMAGED = ("UnreadableFile", "is not a readable workbook (damaged zip: ")
STRICT_FOR_OPENPYXL = ("UnreadableFile", "is a Strict Open XML workbook, which openpyxl reads as having no sheets")


def per_reader(calamine, openpyxl, auto):
    return {"calamine": calamine, "openpyxl": openpyxl, "auto": auto}


#: (exception class name, phrase of its one-line message) per file, or per reader where the
#: readers differ. "rows" would mean the file was read as a budget workbook (none of these is).
EXPECTED: dict[str, object] = {
    "calamine__any_sheets.xlsx": NO_HEADER,
    "calamine__date_iso.xlsx": NO_HEADER,
    "calamine__errors.xlsx": NO_HEADER,
    "calamine__issue_174.xlsx": NO_HEADER,  # claims A1:XFD1048576: must not hang
    "calamine__issue_261.xlsx": NO_HEADER,
    # Backslash part names: calamine copes; openpyxl cannot find its parts.
    "calamine__issue_530.xlsx": per_reader(
        NO_HEADER, ("UnreadableFile", "There is no item named 'xl/sharedStrings.xml' in the archive"), NO_HEADER),
    "calamine__pass_protected.xlsx": ENCRYPTED,
    "calamine__richtext-namespaced.xlsx": NO_HEADER,
    "calamine__strict_iso_paths.xlsx": per_reader(NO_HEADER, STRICT_FOR_OPENPYXL, NO_HEADER),
    "calamine__vba.xlsm": NO_HEADER,  # read as data; macros never run
    "messytables__characters.csv": TEXT,
    "messytables__encrypted_no_password.xls": ENCRYPTED,
    # A .tsv is read as a MAPS export or a budget sheet saved as text, and this one's header is
    # neither's (UnrecognisedExport is an UnreadableFile).
    "messytables__example.tsv": ("UnrecognisedExport",
                                 "the header row is not that of any MAPS export this tool knows, nor a budget sheet's"),
    "messytables__excel_pasting.csv": TEXT,
    "messytables__large.xlsx": NO_HEADER,
    "messytables__mixedGLB.csv": TEXT,
    "messytables__spanish_chars.csv": TEXT,
    "messytables__utf-16le_encoded.csv": TEXT,
    "messytables__weird_head_padding.csv": TEXT,
    "phpspreadsheet__1904_Calendar.xlsx": NO_HEADER,
    "phpspreadsheet__empty.csv": ("UnreadableFile", "is empty"),
    "phpspreadsheet__issue.3277.xlsx": NO_HEADER,
    "phpspreadsheet__issue.3552.xlsx": NO_HEADER,
    "phpspreadsheet__issue.3613.xlsx": NO_HEADER,
    "phpspreadsheet__issue.3654.xlsx": NO_HEADER,
    "phpspreadsheet__issue.3982.xlsx": NO_HEADER,  # claims A1:AMJ1048576: must not hang
    "phpspreadsheet__line_break_in_enclosure_with_escaped_quotes.csv": TEXT,
    "phpspreadsheet__premiere.utf16be.csv": TEXT,
    "phpspreadsheet__premiere.utf16lebom.csv": TEXT,
    "phpspreadsheet__premiere.utf8bom.csv": TEXT,
    "phpspreadsheet__premiere.win1252.csv": TEXT,
    "phpspreadsheet__rootZipFiles.xlsx": NO_HEADER,
    "phpspreadsheet__semicolon_separated.csv": TEXT,
    "phpspreadsheet__without_cell_reference.xlsx": NO_HEADER,
    "poi__123233_charts.xlsx": NO_HEADER,  # dimension "A1", data to row 45
    "poi__46535.xlsx": NO_HEADER,
    "poi__53105.xlsx": NO_HEADER,  # 16384 columns wide
    "poi__57181.xlsm": NO_HEADER,
    "poi__57893-many-merges.xlsx": NO_HEADER,
    "poi__59746_NoRowNums.xlsx": NO_HEADER,
    "poi__62629_toMerge.xlsx": NO_HEADER,
    "poi__64450.xlsx": NO_HEADER,
    "poi__clusterfuzz-testcase-minimized-XLSX2CSVFuzzer-5636439151607808.xlsx": (
        "UnreadableFile", "is not a readable workbook (damaged zip: File is not a zip file)"),
    "poi__craftonhills.edu_programreview_report.aspx_goalpriorityreport_0011d159-1eeb-4b63-8833-867b0926e5f3.xlsx":
        NO_HEADER,  # dimension A1:G1, data to row 4
    "poi__crash-274d6342e4842d61be0fb48eaadad6208ae767ae.xlsx": (
        "UnreadableFile", "is not a readable workbook (damaged zip: Bad magic number for central directory)"),
    "poi__duplicate-filename.xlsx": (
        "UnreadableFile", "is not a readable workbook (ambiguous: the zip holds xl/worksheets/sheet1.xml twice)"),
    # One 1 MB shared string in 12,000 cells: calamine would copy it into every cell (12 GB), so it
    # is refused before it opens the file; openpyxl (and so auto) reads all 3,999 rows.
    "poi__poc-shared-strings.xlsx": per_reader(
        ("LimitExceeded", "its shared strings expand to more than 512.0 MiB of cell text in memory"),
        NO_HEADER, NO_HEADER),
    "poi__poc-xmlbomb.xlsx": ("UnreadableFile", "contains an XML DTD/entity declarations (refused: possible "
                                                "entity-expansion attack) in xl/sharedStrings.xml"),
    "poi__protected_passtika.xlsx": ENCRYPTED,
    "poi__sample.strict.xlsx": per_reader(NO_HEADER, STRICT_FOR_OPENPYXL, NO_HEADER),
    "poi__simple-monthly-budget.xlsx": NO_HEADER,
    # An Excel 4.0 macro sheet: calamine refuses the sheet type; openpyxl reads the worksheets.
    "poi__xlmmacro.xlsm": per_reader(
        ("UnreadableFile", "Unrecognized sheet:type: xl/macrosheets/sheet1.xml"), NO_HEADER, NO_HEADER),
    "poi__xxe_in_schema.xlsx": NO_HEADER,  # the remote schema is never fetched (see below)
    "roo__Pfand_from_windows_phone.xlsx": per_reader(
        ("UnreadableFile", "is not a readable workbook (Relationships)"), NO_HEADER, NO_HEADER),
    "roo__boolean-from-google-sheets.xlsx": NO_HEADER,
    "roo__encrypted-letmein.ods": ENCRYPTED,
    "roo__number_with_zero_prefix.xlsx": NO_HEADER,
    "roo__numbers-export.xlsx": NO_HEADER,
    # A BIFF .xls and an .ods named .xlsx: the guard knows what they are, calamine reads them by
    # content (they are not budget workbooks); openpyxl reads only OOXML and says so.
    "roo__type_excel.xlsx": per_reader(
        NO_HEADER, ("UnreadableFile", "is not a readable workbook (File is not a zip file)"), NO_HEADER),
    "roo__type_openoffice.xlsx": per_reader(
        NO_HEADER,
        ("UnreadableFile", "is not a readable workbook (There is no item named '[Content_Types].xml' in the archive)"),
        NO_HEADER),
}


# -- running things in children ---------------------------------------------------------------


def _child_main(func, args, conn) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    log = tempfile.TemporaryFile()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    started = time.perf_counter()
    # validate reads in a child process of its own: its CPU counts too.
    cpu = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    try:
        result = func(*args)
    except MemoryError:
        result = {"kind": "memory"}
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        result = {"kind": "crash", "traceback": traceback.format_exc()}
    result["seconds"] = time.perf_counter() - started
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    # CPU seconds: what the file costs, whatever else the machine is doing.
    result["cpu"] = sum(u.ru_utime + u.ru_stime - c.ru_utime - c.ru_stime for u, c in zip(usage, cpu))
    log.seek(0)
    result["output"] = log.read().decode("utf-8", "replace")[-4000:]
    conn.send_bytes(pickle.dumps(result))
    conn.close()
    os._exit(0)


def run_in_children(func, tasks: list[tuple], workers: int = 2, timeout: float = TIMEOUT) -> dict:
    """``{task: func(*task)}``, each call in its own forked child with a timeout and an
    address-space limit. A hang, a crash or a memory blow-up is a result, not a hung test."""
    ctx = get_context("fork")
    pending = list(tasks)
    running: dict = {}
    results: dict = {}
    while pending or running:
        while pending and len(running) < workers:
            task = pending.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_child_main, args=(func, task, child))
            process.start()
            child.close()
            running[task] = (process, parent, time.monotonic())
        for task, (process, conn, started) in list(running.items()):
            if conn.poll(0.02):
                try:
                    results[task] = pickle.loads(conn.recv_bytes())
                except EOFError:
                    results[task] = {"kind": "died", "exitcode": process.exitcode}
            elif not process.is_alive():
                process.join()
                results[task] = {"kind": "died", "exitcode": process.exitcode}
            elif time.monotonic() - started > timeout:
                process.kill()
                results[task] = {"kind": "timeout", "seconds": timeout}
            else:
                continue
            process.join(5)
            conn.close()
            del running[task]
    return results


def fetch_and_validate(name: str, reader: str) -> dict:
    """In the child: fetch + validate one corpus file; the outcome as plain data."""
    from ops_pipeline.stages.fetch import fetch
    from ops_pipeline.stages.validate import validate

    root = tempfile.mkdtemp()
    try:
        run = None
        try:
            run = fetch(str(CORPUS / name), root)
            summary = validate(run, reader=reader)
            return {"kind": "rows", "rows": summary["rows"], "reader": summary["reader"],
                    "sheets": summary["sheets"]}
        except PipelineError as error:
            sheets = None
            if run is not None and (run.path / "validate" / "summary.json").exists():
                import json

                sheets = json.loads((run.path / "validate" / "summary.json").read_text())["sheets"]
            return {"kind": "error", "cls": type(error).__name__, "one_line": error.one_line(),
                    "sheets": sheets}
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def corpus_outcomes() -> dict:
    require_corpus()
    return run_in_children(fetch_and_validate, [(name, reader) for name in corpus_files() for reader in READERS])


# -- every file, every reader ------------------------------------------------------------------


def test_every_corpus_file_has_an_expected_outcome(corpus_dir):
    assert corpus_files() == sorted(EXPECTED)
    assert len(EXPECTED) == 60


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(corpus_outcomes, name, reader):
    outcome = corpus_outcomes[(name, reader)]
    assert outcome["kind"] in ("rows", "error"), f"{name} with {reader}: {outcome}"
    assert "Traceback" not in outcome["output"], outcome["output"]
    assert outcome["cpu"] < MAX_SECONDS, f"{name} with {reader} took {outcome['cpu']:.1f} CPU seconds"
    expected = EXPECTED[name]
    expected = expected[reader] if isinstance(expected, dict) else expected
    if expected == "rows":
        assert outcome["kind"] == "rows" and outcome["rows"]["read"] > 0
        return
    cls, phrase = expected
    assert outcome["kind"] == "error", f"{name} with {reader}: expected {cls}, got {outcome}"
    line = outcome["one_line"]
    assert outcome["cls"] == cls, line
    assert phrase in line, line
    assert "\n" not in line and "\r" not in line
    assert name in line  # names the file (its display name, never a temporary path)
    assert CORPUS.as_posix() not in line and "/tmp" not in line
    if cls == "EncryptedFile":
        assert "not a zip file" not in line.lower()
    if expected == NO_HEADER:
        # The sheets were really looked at: "no header" never hides "no sheets" (Strict OOXML).
        assert outcome["sheets"], f"{name} with {reader}: validated without any sheet"


def test_encrypted_workbooks_say_so_through_the_cli(corpus_dir, runs_root):
    from click.testing import CliRunner

    from ops_pipeline.cli import cli

    for name in ("calamine__pass_protected.xlsx", "poi__protected_passtika.xlsx",
                 "messytables__encrypted_no_password.xls", "roo__encrypted-letmein.ods"):
        result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "-q", "run", str(corpus_dir / name),
                                          "--db", "sqlite://"])
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: validate: {name}: this workbook is encrypted (password protected); save an unencrypted copy")


# -- the silent dangers ------------------------------------------------------------------------


def _row_numbers(name: str, reader: str, sheet_index: int | None = None) -> dict:
    """In the child: per sheet, the numbers of the non-empty rows a reader yields."""
    with open_workbook(CORPUS / name, reader=reader) as book:
        sheets = book.sheet_names if sheet_index is None else [book.sheet_names[sheet_index]]
        return {"kind": "rows", "rows": {s: [n for n, values in book.rows(s) if values] for s in sheets}}


def _openpyxl_trusting_the_dimension(name: str) -> dict:
    """In the child: what openpyxl's read-only mode yields without reset_dimensions()."""
    import openpyxl

    book = openpyxl.load_workbook(CORPUS / name, read_only=True, data_only=True)
    return {"kind": "rows", "rows": {ws.title: sum(1 for _ in ws.iter_rows()) for ws in book.worksheets}}


def test_an_undersized_dimension_record_drops_no_rows(corpus_dir):
    charts, crafton, shared = ("poi__123233_charts.xlsx", [f for f in EXPECTED if "craftonhills" in f][0],
                               "poi__poc-shared-strings.xlsx")
    tasks = [(charts, "calamine"), (charts, "openpyxl"), (crafton, "calamine"), (crafton, "openpyxl"),
             (shared, "openpyxl")]
    got = run_in_children(_row_numbers, tasks)
    trusting = run_in_children(_openpyxl_trusting_the_dimension, [(charts,), (crafton,), (shared,)])
    for task, outcome in {**got, **trusting}.items():
        assert outcome["kind"] == "rows", (task, outcome)

    # The danger is real: trusting the dimension gives 5, 1 and 1 rows ...
    assert sum(trusting[(charts,)]["rows"].values()) == 5
    assert trusting[(crafton,)]["rows"] == {"Report": 1}
    assert trusting[(shared,)]["rows"] == {"Tabelle1": 1}
    # ... while the reader yields every row, the same with both readers.
    assert got[(charts, "openpyxl")]["rows"] == got[(charts, "calamine")]["rows"]
    assert max(max(rows, default=0) for rows in got[(charts, "openpyxl")]["rows"].values()) == 45
    assert got[(crafton, "openpyxl")]["rows"] == got[(crafton, "calamine")]["rows"] == {"Report": [1, 2, 3, 4]}
    assert len(got[(shared, "openpyxl")]["rows"]["Tabelle1"]) == 3999
    # calamine refuses it (a shared-string bomb; it could not read rows numbered from 0 either):
    # a clear error, never fewer rows.
    refused = run_in_children(_row_numbers, [(shared, "calamine")])[(shared, "calamine")]
    assert refused["kind"] == "crash" and "LimitExceeded" in refused["traceback"]


def _sheets_and_rows(name: str, reader: str) -> dict:
    try:
        with open_workbook(CORPUS / name, reader=reader) as book:
            return {"kind": "rows", "sheets": book.sheet_names,
                    "cells": sum(len(v) for s in book.sheet_names for _, v in book.rows(s))}
    except PipelineError as error:
        return {"kind": "error", "cls": type(error).__name__, "one_line": error.one_line()}


@pytest.mark.parametrize("name", ["calamine__strict_iso_paths.xlsx", "poi__sample.strict.xlsx"])
def test_strict_ooxml_is_never_read_as_an_empty_workbook(corpus_dir, name):
    got = run_in_children(_sheets_and_rows, [(name, "calamine"), (name, "openpyxl")])
    calamine, openpyxl = got[(name, "calamine")], got[(name, "openpyxl")]
    assert calamine["kind"] == "rows" and calamine["sheets"] and calamine["cells"] > 0
    assert openpyxl["kind"] == "error" and openpyxl["cls"] == "UnreadableFile"
    assert "Strict Open XML" in openpyxl["one_line"] and "--reader calamine" in openpyxl["one_line"]


# -- the two readers agree ----------------------------------------------------------------------

#: Where calamine and openpyxl genuinely differ, per file, and nowhere else:
#: - error-cell: calamine reads a cell holding an error (#REF!, #DIV/0!...) as empty; openpyxl
#:   keeps it as CellError. validate's auto mode sends a workbook with error cells to openpyxl.
#: - edge-whitespace: calamine drops leading/trailing spaces of an inline string that lacks
#:   xml:space="preserve" ("City " → "City"); validation strips text cells, so no parsed value
#:   changes.
#: - date-format: a number cell whose format has a locale prefix ("[$-F400]h:mm:ss AM/PM") is a
#:   datetime to calamine and the serial number to openpyxl; parse_date gives the same date for
#:   both (a Date Needed cell accepts a bare serial).
KNOWN_DIFFERENCES = {
    "calamine__errors.xlsx": {"error-cell"},
    "poi__46535.xlsx": {"error-cell"},
    "calamine__issue_174.xlsx": {"edge-whitespace"},
    "phpspreadsheet__issue.3654.xlsx": {"date-format"},
}


def _cell_difference(a, b) -> str:
    if isinstance(a, str) and isinstance(b, str) and a.strip() == b.strip():
        return "edge-whitespace"
    dates = (dt.date, dt.datetime, dt.time)
    if (isinstance(a, dates) and isinstance(b, (int, float))) or (isinstance(b, dates) and isinstance(a, (int, float))):
        return "date-format"
    return f"other: {a!r} != {b!r}"


def compare_readers(path: str) -> dict:
    """In the child: the kinds of difference between the two readers' rows of one workbook."""
    rows = {}
    for reader in ("calamine", "openpyxl"):
        try:
            with open_workbook(path, reader=reader) as book:
                rows[reader] = {s: {n: v for n, v in book.rows(s) if v} for s in book.sheet_names}
        except PipelineError as error:
            return {"kind": "skipped", "why": f"{reader}: {error.one_line()}"}
    kinds: set = set()
    a, b = rows["calamine"], rows["openpyxl"]
    if list(a) != list(b):
        return {"kind": "compared", "differences": [f"other: sheets {list(a)} != {list(b)}"]}
    for sheet in a:
        ra = a[sheet]
        # calamine reads error cells as empty: put openpyxl's errors aside, then compare.
        rb = {}
        for n, values in b[sheet].items():
            cleaned = tuple(None if isinstance(v, CellError) else v for v in values)
            if cleaned != values:
                kinds.add("error-cell")
            while cleaned and cleaned[-1] is None:
                cleaned = cleaned[:-1]
            if cleaned:
                rb[n] = cleaned
        if set(ra) != set(rb):
            kinds.add(f"other: {sheet} rows {sorted(set(ra) ^ set(rb))[:5]} in one reader only")
        for n in set(ra) & set(rb):
            va, vb = ra[n], rb[n]
            width = max(len(va), len(vb))
            for x, y in zip(va + (None,) * (width - len(va)), vb + (None,) * (width - len(vb))):
                if x != y or type(x) is not type(y) and not (x is None or y is None):
                    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool) \
                            and not isinstance(y, bool) and x == y:
                        continue
                    kinds.add(_cell_difference(x, y))
    return {"kind": "compared", "differences": sorted(kinds)}


def test_both_readers_give_the_same_rows_on_the_corpus(corpus_dir):
    names = [n for n in corpus_files() if n.endswith((".xlsx", ".xlsm"))]
    got = run_in_children(compare_readers, [(str(corpus_dir / n),) for n in names], timeout=40)
    skipped, problems = set(), {}
    for name in names:
        outcome = got[(str(corpus_dir / name),)]
        if outcome["kind"] == "skipped":
            skipped.add(name)
            continue
        assert outcome["kind"] == "compared", (name, outcome)
        allowed = KNOWN_DIFFERENCES.get(name, set())
        if set(outcome["differences"]) != allowed:
            problems[name] = {"found": outcome["differences"], "allowed": sorted(allowed)}
    assert problems == {}
    # Not compared: what one reader (or both) refuses, as the outcome table says.
    assert skipped == ONE_READER_ONLY | NEITHER_READER
    assert len(names) - len(skipped) == 31


#: Workbooks only one reader can read (the other refuses them with a clear error).
ONE_READER_ONLY = {
    "calamine__issue_530.xlsx", "calamine__strict_iso_paths.xlsx", "poi__sample.strict.xlsx",  # calamine
    "poi__poc-shared-strings.xlsx", "poi__xlmmacro.xlsm", "roo__Pfand_from_windows_phone.xlsx",  # openpyxl
    "roo__type_excel.xlsx", "roo__type_openoffice.xlsx",  # calamine, by content
}
#: Not workbooks either reader can open: encrypted, damaged, an entity bomb, renamed .xls/.ods.
NEITHER_READER = {
    "calamine__pass_protected.xlsx", "poi__protected_passtika.xlsx",
    "poi__clusterfuzz-testcase-minimized-XLSX2CSVFuzzer-5636439151607808.xlsx",
    "poi__crash-274d6342e4842d61be0fb48eaadad6208ae767ae.xlsx", "poi__poc-xmlbomb.xlsx",
}


def test_both_readers_give_the_same_rows_on_sample_workbooks(tmp_path):
    from ops_pipeline.sample import write_sample_workbook

    for headers in ("classic", "snake"):
        path = write_sample_workbook(tmp_path / f"{headers}.xlsx", rows=400, seed=3, dirty=True, headers=headers)
        rows = {}
        for reader in ("calamine", "openpyxl"):
            with open_workbook(path, reader=reader) as book:
                rows[reader] = [(s, list(book.rows(s))) for s in book.sheet_names]
        assert rows["calamine"] == rows["openpyxl"]
        assert sum(len(r) for _, r in rows["calamine"]) > 400


# -- XML: no entity expansion, no external resolution, no network --------------------------------


def _no_network_validate(name: str) -> dict:
    """In the child: refuse and record every outbound connection and name lookup, then read."""
    import socket
    import urllib.request

    from ops_pipeline.stages.fetch import fetch
    from ops_pipeline.stages.validate import validate

    attempts: list = []

    def refuse(what):
        def blocked(*args, **kwargs):
            attempts.append((what, repr(args)[:200]))
            raise OSError(f"network access refused by the test ({what})")
        return blocked

    socket.socket.connect = refuse("connect")
    socket.socket.connect_ex = refuse("connect_ex")
    socket.create_connection = refuse("create_connection")
    socket.getaddrinfo = refuse("getaddrinfo")
    # Control: the trap works (else "no attempts" would prove nothing).
    try:
        urllib.request.urlopen("http://localhost:9/schema.xsd", timeout=1)
    except OSError:
        pass
    control = list(attempts)
    attempts.clear()

    outcomes = {}
    root = tempfile.mkdtemp()
    try:
        for reader in READERS:
            run = fetch(str(CORPUS / name), root)
            try:
                outcomes[reader] = validate(run, reader=reader)["rows"]
            except PipelineError as error:
                outcomes[reader] = error.one_line()
            with open_workbook(CORPUS / name, reader=reader if reader != "auto" else "calamine") as book:
                for sheet in book.sheet_names:
                    list(book.rows(sheet))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"kind": "done", "control": control, "attempts": attempts, "outcomes": outcomes}


def test_xxe_schema_location_triggers_no_network_access(corpus_dir):
    name = "poi__xxe_in_schema.xlsx"
    assert b"http://localhost" in zipfile.ZipFile(corpus_dir / name).read("xl/xmlMaps.xml")
    outcome = run_in_children(_no_network_validate, [(name,)])[(name,)]
    assert outcome["kind"] == "done", outcome
    assert outcome["control"], "the network trap did not catch a plain HTTP request"
    assert outcome["attempts"] == []
    assert all("no sheet has a budget header row" in str(v) for v in outcome["outcomes"].values())


def test_entity_declarations_are_refused_before_any_parser_sees_them(corpus_dir, runs_root):
    """The billion-laughs file never reaches a parser: the guard refuses its DTD; and openpyxl
    parses with defusedxml, which refuses entities even if the guard were bypassed."""
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML is True
    with pytest.raises(ValueError) as caught:
        import openpyxl

        openpyxl.load_workbook(corpus_dir / "poi__poc-xmlbomb.xlsx", read_only=True)
    cause = caught.value.__cause__ or caught.value.__context__
    assert type(cause).__module__.startswith("defusedxml")


# -- macros: read as data, never run --------------------------------------------------------------


def _macro_budget_workbook(tmp_path: Path) -> tuple[Path, Path]:
    """A budget workbook, and the same workbook made macro-enabled with a real vbaProject.bin."""
    from tests.conftest import write_workbook

    plain = write_workbook(tmp_path / "budget.xlsx", [good_row(budget_id=i) for i in range(1, 6)])
    vba = zipfile.ZipFile(CORPUS / "calamine__vba.xlsm").read("xl/vbaProject.bin")
    macro = tmp_path / "budget.xlsm"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(macro, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
                data = data.replace(b"</Types>", b'<Default Extension="bin" '
                                    b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdVba" Type="http://schemas.'
                                    b'microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/>'
                                    b"</Relationships>")
            dst.writestr(info, data)
        dst.writestr("xl/vbaProject.bin", vba)
    return plain, macro


@pytest.mark.parametrize("reader", READERS)
def test_a_macro_enabled_budget_workbook_is_read_as_data(corpus_dir, tmp_path, runs_root, reader):
    from ops_pipeline.stages.fetch import fetch
    from ops_pipeline.stages.validate import validate

    plain, macro = _macro_budget_workbook(tmp_path)
    expected = validate(fetch(str(plain), runs_root), reader=reader)
    got = validate(fetch(str(macro), runs_root), reader=reader)
    assert got["rows"] == expected["rows"] == {"read": 5, "valid": 5, "rejected": 0, "skipped": 0}


def test_openpyxl_never_keeps_the_vba_project(corpus_dir):
    for name in ("calamine__vba.xlsm", "poi__57181.xlsm"):
        with open_workbook(corpus_dir / name, reader="openpyxl") as book:
            assert book._book.vba_archive is None  # keep_vba=False: the macros are not even loaded
            assert book.sheet_names


# -- limits: configurable, each with its own clear error ----------------------------------------


@pytest.fixture
def budget_run(make_workbook, runs_root):
    from ops_pipeline.stages.fetch import fetch

    rows = [good_row(budget_id=i, desc="x" * 40) for i in range(1, 11)]
    return fetch(str(make_workbook(rows, name="limits.xlsx")), runs_root)


@pytest.mark.parametrize("limit, phrase", [
    (dict(max_rows=5), "has more than 5 rows"),
    (dict(max_columns=10), "row 2 has 11 columns, more than 10"),
    (dict(max_cells=50), "has more than 50 cells"),
    (dict(max_cell_chars=30), "a cell holds more than 30 characters"),
    (dict(max_file_bytes=2000), "the file is"),
    (dict(max_uncompressed_bytes=4000), "the workbook unpacks to"),
    (dict(max_compression_ratio=2, ratio_min_bytes=100), "expands"),
])
def test_each_limit_has_its_own_clear_error(budget_run, limit, phrase):
    from ops_pipeline.stages.validate import validate

    assert validate(budget_run)["rows"]["read"] == 10  # within the defaults
    with pytest.raises(LimitExceeded) as caught:
        validate(budget_run, limits=Limits(**limit))
    line = caught.value.one_line()
    assert phrase in line and "limits.xlsx" in line and "\n" not in line
    assert "OPS_PIPELINE_MAX_" in line  # says how to raise it


@pytest.mark.parametrize("var, value, phrase", [
    ("OPS_PIPELINE_MAX_ROWS", "3", "more than 3 rows"),
    ("OPS_PIPELINE_MAX_COLUMNS", "5", "more than 5"),
    ("OPS_PIPELINE_MAX_CELLS", "30", "more than 30 cells"),
    ("OPS_PIPELINE_MAX_CELL_CHARS", "20", "more than 20 characters"),
])
def test_limits_come_from_the_environment(budget_run, monkeypatch, runs_root, var, value, phrase):
    from click.testing import CliRunner

    from ops_pipeline.cli import cli

    monkeypatch.setenv(var, value)
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "-q", "validate", str(budget_run.path)])
    assert result.exit_code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: validate: limits.xlsx") and phrase in last and var in last


def test_limit_defaults_are_sensible():
    limits = Limits()
    assert limits.max_file_bytes == 100 * 1024 * 1024
    assert limits.max_rows == 1_048_576 and limits.max_columns == 16_384
    assert limits.max_cell_chars == 32_767 and limits.max_cells == 50_000_000
    assert limits.max_compression_ratio == 100 and limits.max_uncompressed_bytes == 512 * 1024 * 1024
    assert isinstance(EncryptedFile("x"), PipelineError)


# -- amplification: small files that expand into huge work ---------------------------------------


def shared_string_bomb(path: Path, rows: int, cols: int, chars: int) -> Path:
    """A workbook whose every cell references one shared string of ``chars`` characters: a few
    hundred KB on disk, ``rows * cols * chars`` characters of cell text once expanded."""
    from openpyxl.utils import get_column_letter

    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    text = "".join("abcdefghij klmnop"[(i * 7919) % 17] for i in range(chars))
    letters = [get_column_letter(c + 1) for c in range(cols)]
    sheet = "".join(f'<row r="{r}">' + "".join(f'<c r="{col}{r}" t="s"><v>0</v></c>' for col in letters) + "</row>"
                    for r in range(1, rows + 1))
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook {ns} xmlns:r="{rel}"><sheets><sheet '
        'name="All Budget - Cur" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
        f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/sharedStrings" '
        'Target="sharedStrings.xml"/></Relationships>',
        "xl/sharedStrings.xml": f'<?xml version="1.0" encoding="UTF-8"?><sst {ns} count="1" uniqueCount="1">'
        f"<si><t>{text}</t></si></sst>",
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}><sheetData>{sheet}'
        "</sheetData></worksheet>",
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def _validate_path(path: str, reader: str) -> dict:
    """In the child: fetch + validate one file (run_in_children adds the CPU seconds it took)."""
    from ops_pipeline.stages.fetch import fetch
    from ops_pipeline.stages.validate import validate

    root = tempfile.mkdtemp()
    try:
        try:
            summary = validate(fetch(path, root), reader=reader)
            outcome = {"kind": "rows", "rows": summary["rows"], "reader": summary["reader"]}
        except PipelineError as error:
            outcome = {"kind": "error", "cls": type(error).__name__, "one_line": error.one_line()}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return outcome


def test_a_shared_string_bomb_is_refused_by_calamine_and_read_by_openpyxl(tmp_path):
    """One 1 MB shared string used by 900 cells: a 20 KB file, 900 MB of cell text. calamine
    copies the string into every cell (900 MB of memory; a bigger bomb aborts the process), so
    it is refused with a clear error; openpyxl shares one string object; auto uses openpyxl."""
    path = str(shared_string_bomb(tmp_path / "bomb.xlsx", rows=300, cols=3, chars=1_000_000))
    assert os.path.getsize(path) < 100_000
    got = run_in_children(_validate_path, [(path, r) for r in READERS])
    calamine = got[(path, "calamine")]
    assert calamine["kind"] == "error" and calamine["cls"] == "LimitExceeded", calamine
    assert "shared strings expand to" in calamine["one_line"] and "--reader openpyxl" in calamine["one_line"]
    for reader in ("openpyxl", "auto"):
        outcome = got[(path, reader)]
        assert outcome["kind"] == "error" and outcome["cls"] == "DataInvalid", outcome  # read: no budget header
        assert outcome["cpu"] < MAX_SECONDS, outcome


def test_long_text_in_the_first_rows_does_not_stall_the_header_search(tmp_path):
    """The header is searched for in the first rows of every sheet: 60 rows x 2,000 cells of a
    32,000-character string (a 300 KB file) took minutes when every cell was normalised."""
    path = str(shared_string_bomb(tmp_path / "wide.xlsx", rows=60, cols=2000, chars=32_000))
    got = run_in_children(_validate_path, [(path, r) for r in READERS], timeout=60)
    for reader in READERS:
        outcome = got[(path, reader)]
        assert outcome["kind"] == "error", outcome
        assert outcome["cpu"] < MAX_SECONDS, outcome
