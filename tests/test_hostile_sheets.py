"""Hostile workbooks against the guard and the readers: far cells, lying dimensions, XML parts with
odd names, damaged parts. Each file is a few KB built by hand."""
from __future__ import annotations

import json
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ops_pipeline.errors import LimitExceeded, UnreadableFile
from ops_pipeline.readers import guard
from ops_pipeline.readers.extent import sheet_extents
from ops_pipeline.readers.guard import Limits, check_sheet_extents, check_workbook_file
from ops_pipeline.readers.workbook import open_workbook

from .hostile import BOMB, ods_cell, ods_row, sheet_xml, write_ods, write_package, write_sheet, write_xls

FAR = [
    # (cells, farthest cell named in the refusal)
    ({"A1": "x", "XFD1048576": 1}, "XFD1048576"),  # the far corner
    ({"XFD1048576": 1}, "XFD1048576"),  # nothing but the far corner
    ({"A1": "x", "A1048576": 1}, "A1048576"),  # one data row at the last row
    ({"A1": "x", "B2": 2, "A600000": 1, "B600000": 2}, "B600000"),  # far, not at the edge
    ({"A1": "x", "XFD2": 1, "A200": 3}, "A200"),  # a far column and some rows: 3.2M cells
    ({"XFD1": "x", "A1048576": 1}, "A1048576"),  # two opposite corners
    ({**{f"{col}{row}": 1 for col, row in zip(["ZZ", "AAA", "XFD", "BCD"], [300_000, 500_000, 700_000, 1_000_000])},
      "A1": "x"}, "BCD1000000"),  # many sparse far cells
]


@pytest.mark.parametrize("cells, far", FAR)
def test_a_far_cell_is_refused_before_any_reader_allocates(tmp_path, cells, far):
    path = write_sheet(tmp_path / "far.xlsx", cells)
    assert path.stat().st_size < 5_000
    with pytest.raises(LimitExceeded) as caught:
        check_workbook_file(path)
    line = caught.value.one_line()
    assert line.startswith(f"far.xlsx: Sheet1: its farthest cell is {far} but only {len(cells)} cells hold data")
    assert "(max_empty_cells; set OPS_PIPELINE_MAX_EMPTY_CELLS to raise it)" in line
    assert "\n" not in line


@pytest.mark.parametrize("cells", [
    {"A1": "x", "XFD1": 1},  # one wide row: 16,384 cells
    {"A1": "x", "A200000": 1},  # a long thin sheet: 200,000 cells
    {"A1": "x", "XFD1048576": None},  # a far cell holding only formatting: the readers skip it
])
def test_a_far_cell_within_the_limit_is_read(tmp_path, cells):
    path = write_sheet(tmp_path / "ok.xlsx", cells)
    assert check_workbook_file(path) == "ooxml"


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
@pytest.mark.parametrize("cells, rows", [
    ({"A1": "x", "XFD1048576": None}, [(1, ("x",))]),
    ({"A1": None, "C900000": None}, []),  # formatting only, nothing else
    ({"A1": "x", "A3": 2, "B700000": None}, [(1, ("x",)), (2, ()), (3, (2,))]),
])
def test_formatting_far_away_costs_no_rows(tmp_path, reader, cells, rows):
    path = write_sheet(tmp_path / "styled.xlsx", cells)
    with open_workbook(path, reader=reader) as book:
        assert list(book.rows("Sheet1")) == rows


def test_the_limit_is_configurable(tmp_path):
    path = write_sheet(tmp_path / "far.xlsx", {"A1": "x", "A1048576": 1})
    assert check_workbook_file(path, Limits(max_empty_cells=2_000_000)) == "ooxml"
    assert Limits.from_env({"OPS_PIPELINE_MAX_EMPTY_CELLS": "2_000_000"}).max_empty_cells == 2_000_000
    with pytest.raises(LimitExceeded):
        check_workbook_file(path, Limits(max_empty_cells=1_000))


@pytest.mark.parametrize("dimension", ["A1:XFD1048576", "A1:A1", "B7"])
def test_the_dimension_record_is_not_believed_either_way(tmp_path, dimension):
    small = write_sheet(tmp_path / "small.xlsx", {"A1": "x", "B2": 1}, dimension=dimension)
    assert check_workbook_file(small) == "ooxml"
    for reader in ("calamine", "openpyxl"):
        with open_workbook(small, reader=reader) as book:
            assert list(book.rows("Sheet1")) == [(1, ("x",)), (2, (None, 1))]
    far = write_sheet(tmp_path / "far.xlsx", {"A1": "x", "XFD1048576": 1}, dimension=dimension)
    with pytest.raises(LimitExceeded, match="XFD1048576"):
        check_workbook_file(far)


@pytest.mark.parametrize("rows, far", [
    ([ods_row(ods_cell(1)), ods_row(ods_cell(), repeat=1_048_574), ods_row(ods_cell(2))], "A1048576"),
    ([ods_row(ods_cell(1)), ods_row(ods_cell(None, 16_383), ods_cell(2))], None),  # one wide row: fine
    ([ods_row(ods_cell(1)), ods_row(ods_cell(), repeat=9_999), ods_row(ods_cell(None, 16_383), ods_cell(2))],
     "XFD10001"),
    ([ods_row(ods_cell(1)), ods_row(ods_cell(7), repeat=600_000)], None),  # repeated data is data
    ([ods_row(ods_cell(1), ods_cell(2)), ods_row(ods_cell(None, 1024), repeat=1_048_575)], None),  # LibreOffice's tail
])
def test_a_far_cell_in_an_ods_table_is_refused(tmp_path, rows, far):
    path = write_ods(tmp_path / "far.ods", "".join(rows))
    if far is None:
        assert check_workbook_file(path) == "ods"
        return
    with pytest.raises(LimitExceeded) as caught:
        check_workbook_file(path)
    assert caught.value.one_line().startswith(f"far.ods: Sheet1: its farthest cell is {far} but only 2 cells")


@pytest.mark.parametrize("cells, far", [
    ([(0, 0, 1.0), (65_535, 255, 2.0)], "IV65536"),  # the last cell of a BIFF sheet
    ([(0, 0, 1.0), (65_535, 0, 2.0)], None),  # one long column: 65,536 cells, fine
    ([(0, 0, 1.0), (9_999, 200, 2.0)], "GS10000"),
])
def test_a_far_cell_in_an_xls_sheet_is_refused(tmp_path, cells, far):
    path = write_xls(tmp_path / "far.xls", cells)
    if far is None:
        assert check_workbook_file(path) == "xls"
        with open_workbook(path, reader="calamine") as book:
            assert list(book.rows("Sheet1"))[-1] == (cells[-1][0] + 1, (2,))
        return
    with pytest.raises(LimitExceeded) as caught:
        check_workbook_file(path)
    assert caught.value.one_line().startswith(f"far.xls: Sheet1: its farthest cell is {far} but only 2 cells")


@pytest.mark.parametrize("part", ["worksheets/sheet1.bin", "worksheets/data.txt", "sheet.dat", "../data/s.xml"])
def test_a_far_cell_in_a_part_with_any_name_is_found(tmp_path, part):
    path = write_sheet(tmp_path / "odd.xlsx", {"A1": "x", "XFD1048576": 1}, part=part)
    with pytest.raises((LimitExceeded, UnreadableFile)) as caught:
        check_workbook_file(path)
    if part.startswith(".."):  # outside xl/: still scanned, or refused as damaged by the reader
        return
    assert "XFD1048576" in caught.value.one_line()


def test_extents_follow_the_relationships(tmp_path):
    path = write_package(tmp_path / "two.xlsx", [
        ("Budget", "worksheets/sheet1.bin", sheet_xml({"A1": "x", "C9": 1})),
        ("Notes", "other/notes.txt", sheet_xml({"B2": "y"})),
    ])
    with zipfile.ZipFile(path) as zf:
        found = {(e.sheet, e.part, e.cells, e.max_row, e.max_column, e.far_cell) for e in sheet_extents(zf)}
    assert found == {("Budget", "xl/worksheets/sheet1.bin", 2, 9, 3, "C9"),
                     ("Notes", "xl/other/notes.txt", 1, 2, 2, "B2")}


@pytest.mark.parametrize("part", ["worksheets/sheet1.bin", "worksheets/sheet1.txt", "worksheets/sheet1",
                                  "media/image1.png"])
def test_an_xml_part_with_any_name_is_checked_for_a_dtd(tmp_path, part):
    path = write_package(tmp_path / "lol.xlsx", [("Sheet1", part, BOMB)])
    with pytest.raises(UnreadableFile) as caught:
        check_workbook_file(path)
    assert guard.DTD_MESSAGE in str(caught.value) and f"xl/{part}" in str(caught.value)


def test_an_unreferenced_xml_part_with_any_name_is_checked_too(tmp_path):
    path = write_sheet(tmp_path / "lol.xlsx", {"A1": 1})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("customXml/item1.dat", "\ufeff  " + BOMB)
    with pytest.raises(UnreadableFile, match="customXml/item1.dat"):
        check_workbook_file(path)


def test_binary_parts_are_not_taken_for_xml(tmp_path):
    path = write_sheet(tmp_path / "pic.xlsx", {"A1": 1})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("xl/media/image1.png", b"\x89PNG\r\n\x1a\n" + b"<!x" * 30_000)
        zf.writestr("xl/vbaProject.bin", bytes.fromhex("D0CF11E0A1B11AE1") + b"<!DOCTYPE" * 10)
    assert check_workbook_file(path) == "ooxml"


# -- damaged parts: every reader error is one UnreadableFile line naming the file


def _damage_sheet(path, how):
    """Corrupt the sheet part's data (the zip directory stays valid): its deflated bytes, or one
    byte of a stored part near its end (only the CRC check at the end of reading finds it)."""
    if how == "crc":
        with zipfile.ZipFile(path) as zf:
            parts = {name: zf.read(name) for name in zf.namelist()}
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in parts.items():
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    if how == "crc":
        at = data.rindex(b"text", start, start + info.compress_size)
        data[at] = ord("T")
    elif how == "header":  # the part's local header, which only opening the part reads
        data[info.header_offset: info.header_offset + 4] = b"PK\x09\x09"
    else:  # the deflated data's second half: the part opens, and fails while its rows are read
        for i in range(start + info.compress_size // 2, start + info.compress_size - 2):
            data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how", ["crc", "deflate", "header"])
@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
def test_a_damaged_sheet_part_is_an_unreadable_file(tmp_path, reader, how):
    import hashlib

    from .conftest import write_workbook

    # a sheet far larger than what openpyxl reads when it opens the workbook
    rows = [[f"text {i} " + hashlib.sha256(str(i).encode()).hexdigest()] for i in range(4000)]
    path = _damage_sheet(write_workbook(tmp_path / "broken.xlsx", rows, sheet="Sheet1"), how)
    with pytest.raises(UnreadableFile) as caught:
        with open_workbook(path, reader=reader) as book:
            list(book.rows("Sheet1"))
    line = caught.value.one_line()
    assert line.startswith(("broken.xlsx: Sheet1: cannot read the sheet", "broken.xlsx: is not a readable workbook")), line
    assert "\n" not in line


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
def test_any_exception_of_a_reader_becomes_an_unreadable_file(tmp_path, monkeypatch, reader):
    path = write_sheet(tmp_path / "odd.xlsx", {"A1": 1})

    class Strange(Exception):
        pass

    with open_workbook(path, reader=reader) as book:
        if reader == "calamine":
            monkeypatch.setattr(book, "_book", _Raising(book._book, Strange))
        else:
            monkeypatch.setattr(book, "_rows", _raiser(Strange("odd")))
        with pytest.raises(UnreadableFile) as caught:
            list(book.rows("Sheet1"))
    assert caught.value.one_line().startswith("odd.xlsx: Sheet1: cannot read the sheet")


def _raiser(exc):
    def raise_it(*args, **kwargs):
        raise exc
    return raise_it


class _Raising:
    def __init__(self, book, kind):
        self._book, self._kind = book, kind

    def get_sheet_by_name(self, name):
        raise self._kind("odd")

    def close(self):
        self._book.close()


# -- which sheet is read


def _budget_sheet(rows):
    from ops_pipeline.findings import column_letter

    from .conftest import HEADER

    cells = {}
    for r, row in enumerate([HEADER, *rows], 1):
        for c, value in enumerate(row):
            if value is not None and value != "":
                cells[f"{column_letter(c)}{r}"] = value if isinstance(value, (int, float, str)) else str(value)
    return sheet_xml(cells)


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
def test_a_visible_budget_sheet_wins_over_a_hidden_one_that_comes_first(tmp_path, runs_root, reader, state):
    from ops_pipeline.stages.fetch import fetch
    from ops_pipeline.stages.report import build_report, render
    from ops_pipeline.stages.validate import validate

    from .conftest import good_row

    path = write_package(tmp_path / "two.xlsx", [
        ("Old copy", "worksheets/sheet1.xml", _budget_sheet([good_row(budget_id=1)])),
        ("Budget", "worksheets/sheet2.xml", _budget_sheet([good_row(budget_id=2), good_row(budget_id=3)])),
    ], states={"Old copy": state})
    run = fetch(str(path), runs_root)
    summary = validate(run, reader=reader)
    assert (summary["sheet"], summary["rows"]["read"]) == ("Budget", 2)
    assert summary["findings"].get("other-table-sheet") == 1
    finding = [line for line in (run.path / "validate" / "findings.jsonl").read_text().splitlines()
               if "other-table-sheet" in line]
    assert "sheet 'Old copy' (hidden) also has a budget header row; 'Budget' was read" in finding[0]
    data = build_report(run)
    assert data["sheet"] == "Budget"
    assert "**Sheet:** Budget" in render(data, "md")
    assert "Sheet: Budget" in render(data, "text")
    assert json.loads(render(data, "json"))["sheet"] == "Budget"


@pytest.mark.parametrize("tag", ['<c r="A2" t="e">', "<c r='A2' t='e'>", '<c t="e" r="A2">', '<c r="A2"\n t="e">'])
def test_the_extent_scan_finds_an_error_cell_however_its_tag_is_written(tmp_path, tag):
    # quick_extent reads the usual <c r="..." tags; the others go to scan_extent: both must say.
    xml = sheet_xml({"A1": 1, "A2": 2}).replace('<c r="A2"><v>2</v></c>', f"{tag}<v>#N/A</v></c>")
    path = write_package(tmp_path / "err.xlsx", [("Sheet1", "worksheets/sheet1.xml", xml)])
    assert [e.error_cells for e in check_sheet_extents(path)] == [True]
    plain = write_package(tmp_path / "plain.xlsx", [("Sheet1", "worksheets/sheet1.xml", sheet_xml({"A1": 1}))])
    assert [e.error_cells for e in check_sheet_extents(plain)] == [False]


def test_error_cells_and_shared_strings_are_found_in_a_sheet_part_of_any_name(tmp_path):
    from ops_pipeline.readers.workbook import has_error_cells, shared_text_bytes

    xml = sheet_xml({"A1": 1}).replace('<c r="A1"><v>1</v></c>', '<c r="A1" t="e"><v>#REF!</v></c>')
    path = write_package(tmp_path / "err.xlsx", [("Sheet1", "worksheets/sheet1.bin", xml)])
    assert has_error_cells(path)
    assert check_sheet_extents(path)[0].error_cells  # validate's gate answers from the extent scan
    sst = ('<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           f'<si><t>{"x" * 1000}</t></si></sst>')
    cells = "".join(f'<c r="A{i}" t="s"><v>0</v></c>' for i in range(1, 501))
    bomb = sheet_xml({}).replace("<sheetData></sheetData>", f"<sheetData><row r=\"1\">{cells}</row></sheetData>")
    path = write_package(tmp_path / "sst.xlsx", [("Sheet1", "worksheets/sheet1.txt", bomb)])
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("xl/sharedStrings.xml", sst)
    assert shared_text_bytes(path, 10**9) >= 500 * 1000


NSX = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@pytest.mark.parametrize("body", [
    # cells without r: placed by their row and the cells before them
    '<sheetData><row r="1"><c><v>1</v></c></row><row r="1048576"><c/><c><v>1</v></c></row></sheetData>',
    # r in single quotes, absolute ($) and lower case
    "<sheetData><row r='1'><c r='A1'><v>1</v></c><c r='$b$1048576'><v>1</v></c></row></sheetData>",
    # a namespace prefix on every tag
    '<x:sheetData xmlns:x="' + NSX + '"><x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c>'
    '<x:c r="B1048576"><x:v>1</x:v></x:c></x:row></x:sheetData>',
    # r is not the first attribute, and a row number past Excel's grid
    '<sheetData><row r="1"><c s="0" r="A1"><v>1</v></c><c t="n" r="B99999999"><v>1</v></c></row></sheetData>',
])
def test_far_cells_are_found_however_the_tags_are_written(tmp_path, body):
    xml = f'<?xml version="1.0"?><worksheet xmlns="{NSX}">{body}</worksheet>'
    path = write_package(tmp_path / "odd.xlsx", [("Sheet1", "worksheets/sheet1.xml", xml)])
    with pytest.raises(LimitExceeded) as caught:
        check_workbook_file(path)
    assert caught.value.one_line().startswith("odd.xlsx: Sheet1: its farthest cell is B")


def test_the_cli_refuses_a_far_cell_in_one_line_and_the_variable_lets_it_through(tmp_path, runs_root, monkeypatch):
    from click.testing import CliRunner

    from ops_pipeline.cli import cli
    from ops_pipeline.rundir import RunDir
    from ops_pipeline.stages.fetch import fetch

    assert Limits().max_empty_cells == 1_000_000
    run = fetch(str(write_sheet(tmp_path / "budget.xlsx", {"A1": "CAN", "XFD1048576": 1})), runs_root)
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "-q", "validate", str(run.path)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: validate: budget.xlsx: Sheet1: its farthest cell is XFD1048576 but only 2 cells hold data: "
        "reading it would pad 17,179,869,182 empty cells, over the limit of 1,000,008 (max_empty_cells; set "
        "OPS_PIPELINE_MAX_EMPTY_CELLS to raise it) (hint: clear the stray cells near XFD1048576 (Ctrl+End in "
        "Excel finds the last one) and save it again)")
    assert RunDir(run.path).stage_info("validate")["status"] == "failed"
    monkeypatch.setenv("OPS_PIPELINE_MAX_EMPTY_CELLS", "100_000_000")
    far_row = fetch(str(write_sheet(tmp_path / "row.xlsx", {"A1": "CAN", "A1048576": 1})), runs_root)
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "-q", "validate", str(far_row.path)])
    assert "no sheet has a budget header row" in result.stderr  # read, not refused


def test_validate_says_which_sheet_it_read(tmp_path, runs_root):
    from click.testing import CliRunner

    from ops_pipeline.cli import cli
    from ops_pipeline.stages.fetch import fetch

    from .conftest import good_row

    path = write_package(tmp_path / "two.xlsx", [
        ("Old copy", "worksheets/sheet1.xml", _budget_sheet([good_row(budget_id=1)])),
        ("Budget", "worksheets/sheet2.xml", _budget_sheet([good_row(budget_id=2)])),
    ], states={"Old copy": "hidden"})
    run = fetch(str(path), runs_root)
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "validate", str(run.path)])
    assert "1 rows read from sheet 'Budget': " in result.stderr
    assert "  other-table-sheet: 1" in result.stderr


# -- the guard's quick bound never claims less than the exact scan --------------------------------

def _letters(number: int) -> str:
    text = ""
    while number:
        number, rest = divmod(number - 1, 26)
        text = chr(65 + rest) + text
    return text


_CELL = st.tuples(st.integers(1, 1_048_576), st.integers(1, 16_384), st.booleans())


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(_CELL, max_size=12), row_tags=st.lists(st.integers(1, 1_048_576), max_size=4),
       stray_tags=st.integers(0, 5), block=st.sampled_from([64, 1 << 20]))
def test_the_quick_bound_is_never_below_the_exact_extent(tmp_path_factory, cells, row_tags, stray_tags, block):
    """Cells placed anywhere (far away, below their row's number, formatting-only), row tags that
    disagree with them, and self-closing tags that are no cells: quick_extent either declines or
    bounds scan_extent from above (rows, columns) and below (cells holding data)."""
    from ops_pipeline.readers.extent import quick_extent, scan_extent

    body = [b"<pageSetup/>" * stray_tags]
    for index, (row, column, holds_value) in enumerate(cells):
        tag = row_tags[index % len(row_tags)] if row_tags else row
        cell = (f'<c r="{_letters(column)}{row}"><v>1</v></c>' if holds_value
                else f'<c r="{_letters(column)}{row}" s="1"/>')
        body.append(f'<row r="{tag}">{cell}</row>'.encode())
    sheet = b"<worksheet><sheetData>" + b"".join(body) + b"</sheetData></worksheet>"
    path = tmp_path_factory.mktemp("quick") / "sheet.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("sheet.xml", sheet)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("sheet.xml")
        quick, exact = quick_extent(zf, info, block=block), scan_extent(zf, info)
    if quick is not None:
        assert quick.max_row >= exact.max_row and quick.max_column >= exact.max_column
        assert quick.cells <= exact.cells


_FAR = "XFD1048576"
#: A far cell written the ways XML allows that a byte scan must not misread.
ODD_TAGS = {
    "a '>' in a quoted value first": f'<c a=">" r="{_FAR}"><v>1</v></c>',
    "a '>' in a single-quoted value": f"<c s='>>' r='{_FAR}'><v>1</v></c>",
    "a near reference inside another value": f'<c a=\' r="A1"\' r="{_FAR}"><v>1</v></c>',
    "two r attributes": f'<c r="A1" r="{_FAR}"><v>1</v></c>',
    "an r after a line break": f'<c s="1"\nr="{_FAR}"><v>1</v></c>',
    "spaces around the equals sign": f'<c r = "{_FAR}"><v>1</v></c>',
    "a tag longer than a block": f'<c r="{_FAR}" x="{"y" * 70_000}"><v>1</v></c>',
    "a long tag with the reference last": f'<c x="{"y" * 70_000}" r="{_FAR}"><v>1</v></c>',
}


@pytest.mark.parametrize("tag", ODD_TAGS.values(), ids=ODD_TAGS.keys())
def test_a_far_cell_is_refused_however_its_tag_is_written(tmp_path, tag):
    from .hostile import NS

    xml = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}"><sheetData>'
           f'<row r="1"><c r="A1"><v>1</v></c>{tag}</row></sheetData></worksheet>')
    path = write_package(tmp_path / "odd.xlsx", [("Sheet1", "worksheets/sheet1.xml", xml)])
    with pytest.raises(UnreadableFile) as caught:  # LimitExceeded is one, and so is a damaged tag
        check_workbook_file(path)
    assert "odd.xlsx" in caught.value.one_line()


@pytest.mark.parametrize("tag", ODD_TAGS.values(), ids=ODD_TAGS.keys())
def test_the_exact_scan_reads_each_odd_tag_as_far_or_refuses_it(tmp_path, tag):
    from ops_pipeline.readers.extent import scan_extent

    sheet = f'<worksheet><sheetData><row r="1">{tag}</row></sheetData></worksheet>'.encode()
    path = tmp_path / "sheet.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("sheet.xml", sheet)
    with zipfile.ZipFile(path) as zf:
        try:
            extent = scan_extent(zf, zf.getinfo("sheet.xml"), block=4096)
        except ValueError:
            return  # refused as damaged: fine
    assert (extent.max_row, extent.max_column) == (1_048_576, 16_384)


def test_a_long_tag_that_places_no_cell_is_read_past(tmp_path):
    """Excel writes data validations and conditional formats over thousands of ranges in one
    sqref attribute: such a tag is skipped, not taken for damage, and cells after it count."""
    from ops_pipeline.readers.extent import scan_extent

    ranges = " ".join(f"B{n}:C{n}" for n in range(1, 20_000))
    sheet = (f'<worksheet><sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>'
             f'<dataValidations><dataValidation sqref="{ranges}"/></dataValidations>'
             f'<sheetData><row r="9"><c r="D9"><v>1</v></c></row></sheetData></worksheet>').encode()
    path = tmp_path / "sheet.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("sheet.xml", sheet)
    with zipfile.ZipFile(path) as zf:
        extent = scan_extent(zf, zf.getinfo("sheet.xml"), block=4096)
    assert (extent.cells, extent.max_row, extent.max_column) == (2, 9, 4)
