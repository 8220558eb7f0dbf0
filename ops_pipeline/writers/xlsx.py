"""A streaming xlsx writer: one worksheet, rows written as they come, memory bounded by a row.

openpyxl's write-only mode is what the rejects export uses; for 100,000 budget lines it takes
about 30 s here (pure-Python XML, no lxml), three times the export's budget. The worksheet XML of
a table of numbers, dates and text is simple enough to write directly: this module writes the
few parts an xlsx needs (content types, relationships, workbook, styles, one sheet), text as
inline strings (no shared-string table to hold in memory), and four cell styles: plain, money,
date and quote-prefixed text.

Quote-prefixed text is how Excel itself stores what a person types with a leading apostrophe
(``'=1+1``): a text cell, shown and re-edited as text, never run as a formula. Text that a
spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``... see :data:`ops_pipeline.export.FORMULA_STARTS`)
is written that way, so it is inert in the file and keeps its value when the workbook is read back.
"""
from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal
from typing import IO, Iterable, Sequence

from ..export import FORMULA_STARTS

#: Style indexes of the cellXfs below.
PLAIN, MONEY, DATE, QUOTED, HEADER = 0, 1, 2, 3, 4
MONEY_FORMAT = '"$"#,##0.00;\\-"$"#,##0.00'
DATE_FORMAT = "m/d/yyyy"
PERCENT_FORMAT = "0.00##"
_EPOCH = dt.date(1899, 12, 30)
#: Characters XML 1.0 cannot hold (a workbook with them does not open).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '</Types>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'styles" Target="styles.xml"/></Relationships>'
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    f'<numFmts count="2"><numFmt numFmtId="164" formatCode="{MONEY_FORMAT.translate(_ESCAPES)}"/>'
    f'<numFmt numFmtId="165" formatCode="{DATE_FORMAT}"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '</cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>'
)


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def excel_text(text: str) -> str:
    """Text as a cell can hold it: characters XML cannot carry become ``?``."""
    return _ILLEGAL.sub("?", text) if _ILLEGAL.search(text) else text


class SheetWriter:
    """Writes one worksheet into an xlsx, row by row. Use :func:`write_rows`, or: header(),
    append() for each row, close().

    ``styles[i]`` (MONEY, DATE...) is the style of column i's number and date cells; text is
    always written as text (quote-prefixed when it looks like a formula).
    """

    def __init__(self, handle: IO[bytes], sheet: str, widths: Sequence[float] = (),
                 styles: Sequence[int | None] = (), *, freeze_header: bool = True):
        self._zip = zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self._sheet = sheet
        self._row = 0
        self._letters = [f'<c r="{column_letter(i)}' for i in range(16384 if len(styles) > 256 else 256)]
        self._number_style = [f' s="{s}"' if s else "" for s in styles] + [""] * 256
        self._date_style = [f' s="{s or DATE}"' for s in styles] + [f' s="{DATE}"'] * 256
        self._texts: dict[str, tuple] = {}  # text -> (the cell after its reference, quoted, replaced)
        self._dates: dict = {}  # date -> its serial, as text
        self._out = self._zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        self._buffer: list[str] = []
        self._size = 0
        self.quoted = 0  # text cells written quote-prefixed (they would read as formulas)
        self.replaced = 0  # text cells with characters XML cannot hold, replaced by '?'
        cols = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"/>'
                       for i, w in enumerate(widths) if w)
        pane = ('<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>') if freeze_header else ""
        self._write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    f'{pane}<sheetFormatPr defaultRowHeight="15"/>'
                    f'{"<cols>" + cols + "</cols>" if cols else ""}<sheetData>')

    def _write(self, text: str) -> None:
        self._buffer.append(text)
        self._size += len(text)
        if self._size > 1 << 20:
            self._flush()

    def _flush(self) -> None:
        self._out.write("".join(self._buffer).encode("utf-8"))
        self._buffer.clear()
        self._size = 0

    def header(self, names: Sequence[str]) -> None:
        self._row += 1
        # The header's own style (bold); a header never looks like a formula.
        cells = "".join(f'{self._letters[i]}1" s="{HEADER}"{self._text(name)[0][1:]}'
                        for i, name in enumerate(names) if name)
        self._write(f'<row r="1">{cells}</row>')

    @staticmethod
    def _text(value: str) -> tuple:
        replaced = quoted = False
        if _ILLEGAL.search(value):
            value = _ILLEGAL.sub("?", value)
            replaced = True
        style = ""
        if value.lstrip(" ").startswith(FORMULA_STARTS):
            style = f' s="{QUOTED}"'
            quoted = True
        text = value.translate(_ESCAPES)
        space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
        return f'"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>', quoted, replaced

    def append(self, values: Sequence) -> None:
        """One row: ``None`` (or empty text) leaves a cell empty."""
        self._row += 1
        number = str(self._row)
        texts = self._texts
        cells = []
        add = cells.append
        for cell, value, number_style, date_style in zip(self._letters, values, self._number_style,
                                                         self._date_style):
            if value is None:
                continue
            kind = value.__class__
            if kind is str:
                entry = texts.get(value)
                if entry is None:
                    if not value:
                        continue
                    entry = self._text(value)
                    if len(texts) < 65536:
                        texts[value] = entry
                if entry[1]:
                    self.quoted += 1
                if entry[2]:
                    self.replaced += 1
                add(cell + number + entry[0])
            elif kind is int or kind is float or kind is Decimal:
                add(f'{cell}{number}"{number_style}><v>{value}</v></c>')
            elif kind is dt.date or kind is dt.datetime:
                serial = self._dates.get(value)
                if serial is None:
                    serial = str(((value.date() if kind is dt.datetime else value) - _EPOCH).days)
                    if len(self._dates) < 65536:
                        self._dates[value] = serial
                add(f'{cell}{number}"{date_style}><v>{serial}</v></c>')
            elif kind is bool:
                add(f'{cell}{number}" t="b"><v>{int(value)}</v></c>')
            else:
                raise TypeError(f"cannot write a {kind.__name__} to a cell")
        self._write(f'<row r="{number}">{"".join(cells)}</row>')

    def close(self, autofilter_width: int = 0) -> None:
        tail = "</sheetData>"
        if autofilter_width and self._row > 0:
            tail += f'<autoFilter ref="A1:{column_letter(autofilter_width - 1)}{self._row}"/>'
        tail += '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>'
        self._write(tail)
        self._flush()
        self._out.close()
        name = self._sheet.translate(_ESCAPES)
        defined = (f'<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
                   f"'{name.replace(chr(39), chr(39) * 2)}'!$A$1:${column_letter(autofilter_width - 1)}"
                   f"${self._row}</definedName></definedNames>") if autofilter_width and self._row > 0 else ""
        workbook = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets>{defined}</workbook>'
        )
        for part, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _ROOT_RELS),
                           ("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
                           ("xl/styles.xml", _STYLES)):
            self._zip.writestr(part, text)
        self._zip.close()

    @property
    def rows(self) -> int:
        return self._row


def write_rows(handle: IO[bytes], sheet: str, header: Sequence[str], rows: Iterable[Sequence],
               styles: Sequence[int | None] = (), widths: Sequence[float] = ()) -> SheetWriter:
    """Write a one-sheet workbook: the header (bold, frozen, with a filter), then ``rows``."""
    writer = SheetWriter(handle, sheet, widths, styles)
    writer.header(header)
    for row in rows:
        writer.append(row)
    writer.close(autofilter_width=len(header))
    return writer
