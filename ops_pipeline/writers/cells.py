"""Numbers written into cells of an existing xlsx, changing nothing else in it.

Why not openpyxl's load and save: it rebuilds the whole package from what it understood, and what
it does not understand is lost or changed on the way (charts and images, data validation and
conditional formatting extensions, slicers, pivot caches, comments' formatting, defined names it
cannot parse, the styles table renumbered). Budget staff's workbooks carry all of these, and
the write-back promises them their own workbook back with only the ids added.

So the write-back edits the package itself: every part is copied as it is except the worksheet
holding the cells, and in that worksheet's XML only the ``<c>`` elements of the written cells are
replaced (or inserted, in column order, where the row has no such cell); every other byte of the
part is kept. The written cell keeps its style (``s``); it becomes a plain number. A cell holding
a formula is never overwritten: it is reported instead. The worksheet is read in blocks of whole
rows, so memory follows the block, not the sheet.
"""
from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

from ..errors import UnreadableFile, UsageError

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\b")
_ROW_NUMBER = re.compile(rb'\sr\s*=\s*["\'](\d+)["\']')
_CELL = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)c\b([^>]*?)(/?)>")
_CELL_REF = re.compile(rb'\sr\s*=\s*["\']([A-Z]+)(\d+)["\']')
_STYLE = re.compile(rb'\ss\s*=\s*["\'](\d+)["\']')
BLOCK = 1 << 20


def column_index(letters: str | bytes) -> int:
    """A → 0, Z → 25, AA → 26."""
    if isinstance(letters, bytes):
        letters = letters.decode()
    index = 0
    for char in letters:
        index = index * 26 + ord(char) - 64
    return index - 1


def sheet_part(book: zipfile.ZipFile, sheet: str) -> str:
    """The package path of the worksheet named ``sheet`` (by the workbook and its relationships)."""
    try:
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError) as exc:
        raise UnreadableFile(f"not a workbook this tool can write into ({exc.__class__.__name__})") from None
    target = None
    for element in workbook.iter(f"{_MAIN}sheet"):
        if element.get("name") == sheet:
            rel_id = element.get(f"{_REL}id")
            for rel in rels.iter(f"{_PKG}Relationship"):
                if rel.get("Id") == rel_id:
                    target = rel.get("Target")
    if target is None:
        raise UsageError(f"the workbook has no sheet {sheet!r}")
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))


def write_numbers(source: Path, handle: IO[bytes], sheet: str, column: str, values: dict[int, int]) -> dict:
    """Copy the workbook ``source`` to ``handle`` with ``values[row]`` written into the cells of
    ``column`` (letters) on ``sheet``. Returns ``{"written", "formulas", "missing_rows"}``:
    the rows written, those left alone because the cell holds a formula, and rows not found."""
    column_at = column_index(column)
    letters = column.encode()
    try:
        source_zip = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise UnreadableFile(f"{Path(source).name} is not an xlsx workbook (not a zip package)") from None
    with source_zip as book, zipfile.ZipFile(handle, "w") as out:
        part = sheet_part(book, sheet)
        if part not in book.namelist():
            raise UnreadableFile(f"the workbook names the sheet {sheet!r} but has no part {part}")
        result = {"written": [], "formulas": [], "missing_rows": []}
        for info in book.infolist():
            if info.filename != part:
                out.writestr(info, book.read(info.filename))
                continue
            with book.open(info) as src, out.open(_copy_info(info), "w", force_zip64=True) as dst:
                _edit_rows(src, dst, column_at, letters, values, result)
    result["missing_rows"] = sorted(set(values) - set(result["written"]) - set(result["formulas"]))
    return result


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    copy.compress_type = info.compress_type
    copy.external_attr = info.external_attr
    copy.create_system = info.create_system
    return copy


def _edit_rows(src, dst, column_at: int, letters: bytes, values: dict, result: dict) -> None:
    """Stream the worksheet XML from src to dst, replacing the target cells of whole rows."""
    pending = b""
    previous = 0  # the number of the last row seen (a row without r="" is the next one)
    while True:
        chunk = src.read(BLOCK)
        data = pending + chunk
        if not chunk:
            dst.write(_edit_block(data, column_at, letters, values, result, [previous])[0])
            return
        cut = _last_row_end(data)
        if cut < 0:
            pending = data
            continue
        edited, previous = _edit_block(data[:cut], column_at, letters, values, result, [previous])
        dst.write(edited)
        pending = data[cut:]


_ROW_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?row>")


def _last_row_end(data: bytes) -> int:
    """Where the last complete row of ``data`` ends (-1: none ends in it)."""
    at = len(data)
    while True:
        at = data.rfind(b"row>", 0, at)
        if at < 0:
            return -1
        start = data.rfind(b"</", 0, at)
        if start >= 0 and _ROW_END.fullmatch(data, start, at + 4):
            return at + 4


def _edit_block(data: bytes, column_at: int, letters: bytes, values: dict, result: dict, state: list):
    pieces = []
    position = 0
    previous = state[0]
    for match in _ROW_START.finditer(data):
        tag_end = data.index(b">", match.end())
        attributes = data[match.end():tag_end]
        number = _ROW_NUMBER.search(attributes)
        previous = int(number.group(1)) if number else previous + 1
        if data[tag_end - 1:tag_end] == b"/":  # an empty row: <row r="7"/>
            position = tag_end + 1
            continue
        name = match.group(0)[1:]  # row or x:row
        close = data.index(b"</" + name + b">", tag_end)
        if previous in values:
            body = data[tag_end + 1:close]
            new_body = _edit_row(body, previous, column_at, letters, values[previous], result)
            pieces.append(data[position:tag_end + 1])
            pieces.append(new_body)
            position = close
    pieces.append(data[position:])
    return b"".join(pieces), previous


def _edit_row(body: bytes, row: int, column_at: int, letters: bytes, value: int, result: dict) -> bytes:
    """The row's cells with the one in ``column_at`` holding ``value``."""
    ref = letters + str(row).encode()
    for match in _CELL.finditer(body):
        prefix, attributes, empty = match.group(1), match.group(2), match.group(3)
        cell = _CELL_REF.search(attributes)
        if cell is None:
            raise UnreadableFile(f"row {row} has a cell without a reference (r=\"\"); cannot place {ref.decode()}")
        at = column_index(cell.group(1))
        if at < column_at:
            continue
        end = match.end() if empty else body.index(b"</" + prefix + b"c>", match.end()) + len(prefix) + 4
        if at == column_at:
            if b"<" + prefix + b"f" in body[match.end():end] and not empty:
                result["formulas"].append(row)
                return body
            style = _STYLE.search(attributes)
            result["written"].append(row)
            return body[:match.start()] + _number_cell(prefix, ref, style, value) + body[end:]
        result["written"].append(row)
        return body[:match.start()] + _number_cell(prefix, ref, None, value) + body[match.start():]
    # No cell at or after the column: the new one goes last.
    result["written"].append(row)
    prefix = _CELL.search(body).group(1) if _CELL.search(body) else b""
    return body + _number_cell(prefix, ref, None, value)


def _number_cell(prefix: bytes, ref: bytes, style, value: int) -> bytes:
    s = b' s="' + style.group(1) + b'"' if style else b""
    return b"<" + prefix + b'c r="' + ref + b'"' + s + b"><" + prefix + b"v>" + str(int(value)).encode() + \
        b"</" + prefix + b"v></" + prefix + b"c>"
