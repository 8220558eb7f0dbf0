"""Where a workbook's worksheets are, and how far their data really reaches.

Both readers size their work by a sheet's *extent*, from A1 to its farthest cell: calamine
allocates a cell for every position of that rectangle, and both readers hand over one row per row
number. A 5 KB file with one cell at ``XFD1048576`` claims 17 billion cells. :func:`sheet_extents`
finds, for every worksheet part, the cells that really hold something and the farthest of them,
by a streaming byte scan (no XML parser, so nothing is expanded; the guard has already refused
DTDs), so that the guard can refuse such a sheet before a reader allocates anything.

Worksheet parts are found the way the readers find them, through the workbook's relationships,
whatever their names (``xl/worksheets/sheet1.bin`` is as much a worksheet as ``sheet1.xml``).
"""
from __future__ import annotations

import html
import posixpath
import re
import zipfile
from dataclasses import dataclass

#: Excel's own grid.
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384

_WORKSHEET_TYPE = re.compile(rb"/(?:worksheet|xlsx?worksheet)$", re.IGNORECASE)
_RELATIONSHIP = re.compile(rb"<(?:[\w.-]+:)?Relationship\b([^>]*)>", re.IGNORECASE)
_SHEET = re.compile(rb"<(?:[\w.-]+:)?sheet\b([^>]*)>")
_ATTR = re.compile(rb"([\w.:-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
#: The elements that place cells: rows, cells and the sheet's declared dimension.
_PLACING = re.compile(rb"<(?:[\w.-]+:)?(row|c|dimension)\b((?:[^<>\"']|\"[^\"]*\"|'[^']*')*)>")
#: A whole tag at the start of a block's tail: attribute values may hold ">" but never "<".
_WHOLE_TAG = re.compile(rb"<(?:[^<>\"']|\"[^\"]*\"|'[^']*')*>")
_PLACING_NAME = re.compile(rb"<(?:[\w.-]+:)?(?:row|c|dimension)\b")
#: No cell or row tag of a real worksheet comes near this; one longer is refused rather than cut.
MAX_TAG_BYTES = 64 * 1024
_REF = re.compile(rb"^\s*\$?([A-Za-z]{1,4})?\$?(\d{1,9})?\s*$")
_HEAD = 256 * 1024
#: An error cell's type attribute, in a view whose whitespace is spaces (_WHITESPACE_AS_SPACE).
ERROR_TYPES = (b' t="e"', b" t='e'")


def _holds_error_cell(spaced: bytes) -> bool:
    return ERROR_TYPES[0] in spaced or ERROR_TYPES[1] in spaced


@dataclass
class Extent:
    """What a worksheet part holds: the cells with a value, and the farthest row and column."""

    part: str
    sheet: str | None = None
    cells: int = 0
    max_row: int = 0
    max_column: int = 0
    #: the farthest cell's reference, for messages (the cell with the largest row, then column)
    far_cell: str = ""
    #: what the sheet's <dimension ref="..."> claims, as (rows, columns), or None
    dimension: tuple[int, int] | None = None
    #: False when far_cell is the farthest row and column rather than a cell (quick_extent)
    exact: bool = True
    #: whether a cell holds an error (``t="e"``: #REF!, #N/A...), which calamine reads as empty
    error_cells: bool = False

    @property
    def area(self) -> int:
        """Cells from A1 to the farthest row and column: what a reader pads the sheet to."""
        return self.max_row * self.max_column

    @property
    def empty_cells(self) -> int:
        return max(0, self.area - self.cells)


def _attrs(raw: bytes) -> dict[bytes, str]:
    out = {}
    for name, double, single in _ATTR.findall(raw):
        local = name.rsplit(b":", 1)[-1] if name.lower() not in (b"r:id",) else b"r:id"
        value = (double if double or not single else single).decode("utf-8", "replace")
        out[local] = html.unescape(value)
        if name.lower().endswith(b":id"):
            out[b"r:id"] = out[local]
    return out


def _entries(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    return {info.filename.replace("\\", "/").lstrip("/").lower(): info for info in zf.infolist()
            if not info.filename.endswith("/")}


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo | None, limit: int = 4 * 1024 * 1024) -> bytes:
    if info is None:
        return b""
    with zf.open(info) as handle:
        return handle.read(limit)


def _rels_of(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def _resolve(base_part: str, target: str) -> str:
    target = target.replace("\\", "/")
    if target.startswith("/"):
        return target.lstrip("/").lower()
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_part), target)).lower()


def workbook_part(zf: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo] | None = None) -> str:
    entries = _entries(zf) if entries is None else entries
    for raw in _RELATIONSHIP.findall(_read(zf, entries.get("_rels/.rels"))):
        attrs = _attrs(raw)
        if attrs.get(b"Type", "").endswith("/officeDocument") and attrs.get(b"Target"):
            return _resolve("", attrs[b"Target"])
    return "xl/workbook.xml"


def worksheet_parts(zf: zipfile.ZipFile) -> dict[str, str | None]:
    """Every part a reader may read as a worksheet, lower-cased, with its sheet's name when the
    workbook names it: the targets of the workbook's worksheet relationships, whatever their
    extension, and every part under ``xl/worksheets/``."""
    entries = _entries(zf)
    book = workbook_part(zf, entries)
    names = {}
    for raw in _SHEET.findall(_read(zf, entries.get(book))):
        attrs = _attrs(raw)
        if b"r:id" in attrs and b"name" in attrs:
            names[attrs[b"r:id"]] = attrs[b"name"]
    parts: dict[str, str | None] = {}
    for raw in _RELATIONSHIP.findall(_read(zf, entries.get(_rels_of(book)))):
        attrs = _attrs(raw)
        if attrs.get(b"TargetMode", "").lower() == "external" or not attrs.get(b"Target"):
            continue
        if _WORKSHEET_TYPE.search(attrs.get(b"Type", "").encode()):
            part = _resolve(book, attrs[b"Target"])
            if part in entries:
                parts[part] = names.get(attrs.get(b"Id", ""))
    for key in entries:
        if key.startswith("xl/worksheets/") and "/_rels/" not in key and key not in parts:
            parts[key] = None
    return parts


def _column_number(letters: bytes) -> int:
    number = 0
    for byte in letters.upper():
        number = number * 26 + byte - 64
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rem = divmod(number - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _dimension(ref: str) -> tuple[int, int] | None:
    last = ref.split(":")[-1].encode()
    match = _REF.match(last)
    if not match or not match.group(1) or not match.group(2):
        return None
    return int(match.group(2)), _column_number(match.group(1))


#: A cell tag as the usual writers (Excel, openpyxl, XlsxWriter...) put it: ``<c r="B7"``.
#: ... and one that holds only formatting (``<c r="XFD1048576" s="1"/>``): the readers skip it.


def _greater_digits(number: int) -> bytes:
    """A pattern for the decimal numbers (no leading zero, at most 7 digits) greater than ``number``."""
    text = str(number)
    options = [rb"[1-9]\d{%d,6}" % len(text)] if len(text) < 7 else []
    for i, digit in enumerate(text):
        if digit != "9":
            options.append(re.escape(text[:i]).encode() + b"[%d-9]" % (int(digit) + 1)
                           + (rb"\d{%d}" % (len(text) - i - 1) if len(text) - i - 1 else b""))
    return b"(?:" + b"|".join(options) + b")" if options else b"(?!)"


def _greater_letters(letters: str) -> bytes:
    """A pattern for the column letters (at most 3) after ``letters``."""
    options = [rb"[A-Z]{%d,3}" % (len(letters) + 1)] if len(letters) < 3 else []
    for i, letter in enumerate(letters):
        if letter != "Z":
            options.append(letters[:i].encode() + b"[" + chr(ord(letter) + 1).encode() + b"-Z]"
                           + (rb"[A-Z]{%d}" % (len(letters) - i - 1) if len(letters) - i - 1 else b""))
    return b"(?:" + b"|".join(options) + b")" if options else b"(?!)"


#: A cell tag that is not ``<c r="LETTERS DIGITS"`` (other attribute order, quotes, spacing,
#: a leading zero, no reference...): the quick bound does not read such a sheet.
_UNUSUAL_CELL = re.compile(rb'<c(?! r="[A-Z]{1,3}[1-9]\d{0,6}")[\s/>]')
#: XML's whitespace as plain spaces, so that one count finds an attribute however it is spaced.
_WHITESPACE_AS_SPACE = bytes.maketrans(b"\t\n\r", b"   ")
_ROW_NUMBER = re.compile(rb'<row r="([1-9]\d{0,6})"')
#: The bound of :func:`quick_extent` gives up past this many raises of its largest column.
_QUICK_COLUMN_RAISES = 64


def _tag_blocks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, block: int):
    """The part's bytes in blocks that each end where a tag starts, so no tag is split.

    Text after the last tag of a block places nothing and is dropped, however long, and so is the
    rest of a long tag that places nothing (its attribute values cannot hold "<"). A cell or row
    tag longer than :data:`MAX_TAG_BYTES` raises ``ValueError`` (the guard refuses the file)
    instead of being cut, since a cut could drop the reference of a far cell.
    """
    tail = b""
    with zf.open(info) as handle:
        while True:
            chunk = handle.read(block)
            data = tail + chunk
            if not chunk:
                yield data
                return
            end = data.rfind(b"<")
            if end < 0:  # text only
                tail = b""
                continue
            if end:
                yield data[:end]
            tail = data[end:]
            if len(tail) > MAX_TAG_BYTES:
                whole = _WHOLE_TAG.match(tail)
                if whole is not None:
                    tail = tail[:whole.end()]
                elif _PLACING_NAME.match(tail):
                    raise ValueError(f"a cell or row tag of {info.filename} is longer than "
                                     f"{MAX_TAG_BYTES:,} bytes")
                else:  # a long tag that places nothing (a list of ranges...): no "<" until its end
                    tail = b""


def quick_extent(zf: zipfile.ZipFile, info: zipfile.ZipInfo, sheet: str | None = None,
                 block: int = 1 << 20) -> Extent | None:
    """An upper bound of :func:`scan_extent` at C speed for the usual sheet, whose every cell tag
    starts ``<c r="..."``; None for any other. Nothing is built per cell: the largest row comes
    from the ``<row r=...>`` tags, and one regular-expression search per block checks that no cell
    lies below it or right of the largest column seen so far. The bound may exceed the data
    (formatted rows count as rows), so a refusal is only decided on :func:`scan_extent`."""
    extent = Extent(part=info.filename, sheet=sheet, exact=False)
    max_row, column_letters, raises, any_cell = 0, "A", 0, False
    patterns: dict[tuple[str, int], re.Pattern] = {}

    def beyond(letters: str, row: int) -> re.Pattern:
        key = (letters, row)
        if key not in patterns:
            patterns[key] = re.compile(rb'<c r="(?:' + _greater_letters(letters) + rb'\d{1,7}|[A-Z]{1,3}'
                                       + _greater_digits(row) + rb')"')
        return patterns[key]

    for view in _tag_blocks(zf, info, block):
        if _UNUSUAL_CELL.search(view) or b":c " in view or b":c>" in view:
            return None  # a cell tag of another shape
        spaced = view.translate(_WHITESPACE_AS_SPACE)
        if not extent.error_cells:
            extent.error_cells = _holds_error_cell(spaced)
        if (spaced.count(b" r=") != spaced.count(b'<c r="') + spaced.count(b'<row r="')
                or b" r " in spaced):
            return None  # an r attribute elsewhere than first in a cell or row tag
        rows = _ROW_NUMBER.findall(view)
        if rows:
            max_row = max(max_row, max(map(int, rows)))
        found = beyond(column_letters, max_row).search(view)
        while found is not None:
            ref = re.match(rb'<c r="([A-Z]{1,3})(\d{1,7})"', found.group(0))
            if int(ref.group(2)) > max_row:
                return None  # a cell below every row tag: only the exact scan places it
            column_letters, raises = ref.group(1).decode(), raises + 1
            if raises > _QUICK_COLUMN_RAISES:
                return None
            found = beyond(column_letters, max_row).search(view, found.end())
        # Every self-closing tag is taken for an empty cell: too few data cells can only send
        # the sheet to the exact scan, never let a padded one through.
        tags = view.count(b"<c ")
        any_cell = any_cell or tags > 0
        extent.cells += max(0, tags - view.count(b"/>"))
    if any_cell:  # the bound holds whatever the count of data cells, which may be too low
        extent.max_row = max_row
        extent.max_column = _column_number(column_letters.encode())
        extent.far_cell = f"{column_letters}{max_row}"
    return extent


def _reference(raw: bytes, name: bytes) -> bytes | None:
    """The value of attribute ``name`` in a tag's attribute text, read attribute by attribute (a
    quoted value may hold what looks like another attribute); two of them is a damaged tag."""
    values = [double if double or not single else single
              for attr, double, single in _ATTR.findall(raw) if attr == name]
    if len(values) > 1:
        raise ValueError(f"a <c> or <row> tag holds {len(values)} {name.decode()!r} attributes")
    return values[0] if values else None


def scan_extent(zf: zipfile.ZipFile, info: zipfile.ZipInfo, sheet: str | None = None,
                block: int = 1 << 20) -> Extent:
    """The extent of one worksheet part, by a streaming scan of its ``<row>`` and ``<c>`` tags.

    A cell counts when it is not an empty tag (``<c r="B2" s="1"/>`` is formatting only: the
    readers skip it, and Excel leaves such cells as far as XFD1048576). Cells and rows without an ``r`` attribute follow the previous one, as the
    readers place them.
    """
    extent = Extent(part=info.filename, sheet=sheet)
    row = 0
    column = 0
    far = (0, 0)  # the cell with the largest row, then column
    for view in _tag_blocks(zf, info, block):
        if not extent.error_cells:
            extent.error_cells = _holds_error_cell(view.translate(_WHITESPACE_AS_SPACE))
        for match in _PLACING.finditer(view):
            kind, raw = match.group(1), match.group(2)
            r = _reference(raw, b"ref" if kind == b"dimension" else b"r")
            if kind == b"row":
                row = int(r) if r and r.strip().isdigit() else row + 1
                column = 0
            elif kind == b"c":
                ref = _REF.match(r) if r is not None else None
                if ref and ref.group(1):
                    column = _column_number(ref.group(1))
                    if ref.group(2):
                        row = int(ref.group(2))
                else:
                    column += 1
                if raw.rstrip().endswith(b"/"):
                    continue  # formatting only: the readers skip it
                extent.cells += 1
                if (row, column) > far:
                    far = (row, column)
                extent.max_row = max(extent.max_row, row)
                extent.max_column = max(extent.max_column, column)
            elif kind == b"dimension" and r is not None:
                extent.dimension = _dimension(r.decode("ascii", "replace"))
    if far[0]:
        extent.far_cell = f"{_column_letters(far[1])}{far[0]}"
    return extent


def sheet_extents(zf: zipfile.ZipFile) -> list[Extent]:
    """The extent of every worksheet part of an OOXML package (see :func:`worksheet_parts`)."""
    entries = _entries(zf)
    return [quick_extent(zf, entries[part], sheet) or scan_extent(zf, entries[part], sheet)
            for part, sheet in worksheet_parts(zf).items()]


# -- OpenDocument (.ods): rows and cells repeat ---------------------------------------------------

_ODS_TAG = re.compile(rb"<(/?)(?:[\w.-]+:)?(table-row|table-cell|covered-table-cell|table)\b([^<>]*)>")
_ODS_ROWS_REPEATED = re.compile(rb"(?:^|\s)(?:[\w.-]+:)?number-rows-repeated\s*=\s*[\"'](\d{1,12})[\"']")
_ODS_COLUMNS_REPEATED = re.compile(rb"(?:^|\s)(?:[\w.-]+:)?number-columns-repeated\s*=\s*[\"'](\d{1,12})[\"']")
_ODS_VALUE_TYPE = re.compile(rb"(?:^|\s)(?:[\w.-]+:)?value-type\s*=")
_ODS_NAME = re.compile(rb"(?:^|\s)(?:[\w.-]+:)?name\s*=\s*[\"']([^\"']*)[\"']")


def ods_extents(zf: zipfile.ZipFile, block: int = 1 << 20) -> list[Extent]:
    """The extent of every table in an OpenDocument spreadsheet's ``content.xml``.

    A row or cell repeated N times (``number-rows-repeated``) counts N times, as the readers
    expand it; a cell holds data when it has a value type. LibreOffice ends a sheet with a million
    repeated empty rows: they hold nothing and do not count.
    """
    entries = _entries(zf)
    info = entries.get("content.xml")
    if info is None:
        return []
    extents: list[Extent] = []
    current: Extent | None = None
    far = (0, 0)
    row = column = 0
    row_repeat = 1
    tail = b""

    def close() -> None:
        if current is not None:
            if far[0]:
                current.far_cell = f"{_column_letters(far[1])}{far[0]}"
            extents.append(current)

    with zf.open(info) as handle:
        while True:
            chunk = handle.read(block)
            data = tail + chunk
            end = len(data) if not chunk else data.rfind(b"<")
            if end <= 0 and chunk:
                tail = data
                continue
            for match in _ODS_TAG.finditer(data, 0, end):
                closing, kind, raw = match.group(1), match.group(2), match.group(3)
                if kind == b"table":
                    if closing:
                        continue
                    close()
                    name = _ODS_NAME.search(raw)
                    current = Extent(part=info.filename,
                                     sheet=html.unescape(name.group(1).decode("utf-8", "replace")) if name else None)
                    far, row, column = (0, 0), 0, 0
                    continue
                if current is None:
                    continue
                if kind == b"table-row":
                    if closing:
                        row += row_repeat - 1
                        continue
                    found = _ODS_ROWS_REPEATED.search(raw)
                    row_repeat = max(1, int(found.group(1))) if found else 1
                    row += 1
                    column = 0
                    if raw.rstrip().endswith(b"/"):
                        row += row_repeat - 1
                    continue
                if closing:
                    continue
                found = _ODS_COLUMNS_REPEATED.search(raw)
                repeat = max(1, int(found.group(1))) if found else 1
                column += repeat
                if _ODS_VALUE_TYPE.search(raw):
                    last_row = row + row_repeat - 1
                    current.cells += repeat * row_repeat
                    current.max_row = max(current.max_row, last_row)
                    current.max_column = max(current.max_column, column)
                    far = max(far, (last_row, column))
            if not chunk:
                break
            tail = data[end:]
            if len(tail) > 64 * 1024:
                tail = tail[-4096:]
    close()
    return extents


# -- BIFF (.xls): cell records carry their row and column ----------------------------------------

_BIFF_BOF, _BIFF_EOF, _BIFF_BOUNDSHEET = 0x0809, 0x000A, 0x0085
#: NUMBER, LABELSST, RK, BOOLERR, FORMULA, LABEL, RSTRING: one cell holding a value each.
_BIFF_VALUE_CELLS = frozenset((0x0203, 0x00FD, 0x027E, 0x0205, 0x0006, 0x0204, 0x00D6))
_BIFF_MULRK = 0x00BD


def biff_extents(stream: bytes) -> list[Extent]:
    """The extent of every worksheet substream of a BIFF5/8 workbook stream (the ``Workbook``
    stream of an .xls). BLANK and MULBLANK cells hold only formatting and do not count."""
    import struct

    names: dict[int, str] = {}
    extents: list[Extent] = []
    current: Extent | None = None
    far = (0, 0)
    pos, size = 0, len(stream)
    while pos + 4 <= size:
        kind, length = struct.unpack_from("<HH", stream, pos)
        body = stream[pos + 4: pos + 4 + length]
        if kind == _BIFF_BOF:
            if current is not None and far[0]:
                current.far_cell = f"{_column_letters(far[1])}{far[0]}"
            current, far = None, (0, 0)
            if len(body) >= 4 and struct.unpack_from("<H", body, 2)[0] == 0x0010:  # a worksheet
                current = Extent(part="Workbook", sheet=names.get(pos))
                extents.append(current)
        elif kind == _BIFF_BOUNDSHEET and len(body) >= 8:
            count, flags = body[6], body[7]
            raw = body[8: 8 + count * (2 if flags & 1 else 1)]
            names[struct.unpack_from("<I", body, 0)[0]] = raw.decode("utf-16-le" if flags & 1 else "latin-1", "replace")
        elif current is not None and len(body) >= 4 and (kind in _BIFF_VALUE_CELLS or kind == _BIFF_MULRK):
            row, column = struct.unpack_from("<HH", body, 0)
            cells = 1
            if kind == _BIFF_MULRK and len(body) >= 6:
                last = struct.unpack_from("<H", body, len(body) - 2)[0]
                cells = max(1, last - column + 1)
                column = max(column, last)
            row, column = row + 1, column + 1
            current.cells += cells
            current.max_row = max(current.max_row, row)
            current.max_column = max(current.max_column, column)
            far = max(far, (row, column))
        pos += 4 + length
    if current is not None and far[0]:
        current.far_cell = f"{_column_letters(far[1])}{far[0]}"
    return extents
