"""Reading worksheets as typed rows, with python-calamine (default) or openpyxl (second reader).

Both readers yield the same thing: ``(excel_row_number, values)`` where values is a tuple with
``None`` for empty cells, ``str``, ``int`` (integral numbers), ``float``, ``bool``,
``datetime.date`` (date cells at midnight), ``datetime.datetime`` or ``datetime.time``, and
:class:`CellError` for cells holding an error such as ``#REF!``. Trailing empty cells are dropped.
Neither reader runs macros or evaluates formulas: a formula cell gives its cached value.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
import warnings
import zipfile
from pathlib import Path
from typing import Iterator

from ..errors import EncryptedFile, PipelineError, UnreadableFile
from ..redact import safe_reason

READERS = ("calamine", "openpyxl")

Row = tuple[int, tuple]


class CellError(str):
    """A spreadsheet error value (``#DIV/0!``, ``#N/A``...) kept distinct from text."""


_MIDNIGHT = dt.time(0, 0)


def normalise(value: object) -> object:
    if value is None or value == "":
        return None
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if kind is dt.datetime:
        return value.date() if value.time() == _MIDNIGHT and value.tzinfo is None else value
    return value


def _trim(values: list) -> tuple:
    end = len(values)
    while end and values[end - 1] is None:
        end -= 1
    return tuple(values[:end])


class Workbook:
    """An open workbook: its worksheet names, date system, and rows per sheet."""

    reader = ""

    def __init__(self, path: Path, display_name: str):
        self.path = Path(path)
        self.display_name = display_name
        self.date1904 = read_date1904(self.path)

    @property
    def sheet_names(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def hidden_sheets(self) -> set[str]:
        """The worksheets that Excel does not show (hidden or very hidden)."""
        return set()

    def release(self, sheet: str) -> None:
        """Forget what was read of ``sheet`` (its rows are not needed any more)."""

    def rows(self, sheet: str) -> Iterator[Row]:  # pragma: no cover - abstract
        raise NotImplementedError

    def row_reader(self, sheet: str) -> "SheetRows | None":
        """A reader of the sheet's rows that can start at any row cheaply (the sheet is in memory),
        or None when this reader streams the file (openpyxl) or the sheet is empty."""
        return None

    def close(self) -> None:
        pass

    def __enter__(self) -> "Workbook":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CalamineWorkbook(Workbook):
    reader = "calamine"

    def __init__(self, path: Path, display_name: str):
        super().__init__(path, display_name)
        import python_calamine as pc

        _refuse_shared_string_bomb(self.path, display_name)
        self._pc = pc
        try:
            if _extension_lies(self.path):
                # calamine picks its format from the extension; from content, a .xls or .ods
                # saved under an .xlsx name reads as what it is.
                with open(self.path, "rb") as handle:
                    self._book = pc.CalamineWorkbook.from_filelike(handle)
            else:
                self._book = pc.CalamineWorkbook.from_path(str(path))
        except pc.PasswordError:
            raise EncryptedFile(
                "this workbook is encrypted (password protected); save an unencrypted copy",
                file=display_name,
            ) from None
        except BaseException as exc:  # CalamineError, ZipError, XmlError, OSError, a Rust panic...
            _reraise_interrupts(exc)
            raise UnreadableFile(
                f"is not a readable workbook ({_first_line(exc)})", file=display_name,
                hint="try --reader openpyxl, or open and re-save it in Excel",
            ) from None
        self._parsed: dict = {}
        try:
            sheets = [meta for meta in self._book.sheets_metadata if meta.typ == pc.SheetTypeEnum.WorkSheet]
            self._sheets = [meta.name for meta in sheets]
            self._hidden = {meta.name for meta in sheets if meta.visible != pc.SheetVisibleEnum.Visible}
        except BaseException as exc:
            _reraise_interrupts(exc)
            raise UnreadableFile(
                f"is not a readable workbook ({_first_line(exc)})", file=display_name,
                hint="try --reader openpyxl, or open and re-save it in Excel",
            ) from None

    @property
    def sheet_names(self) -> list[str]:
        return list(self._sheets)

    @property
    def hidden_sheets(self) -> set[str]:
        return set(self._hidden)

    def release(self, sheet: str) -> None:
        self._parsed.pop(sheet, None)

    def rows(self, sheet: str) -> Iterator[Row]:
        reader = self.row_reader(sheet)
        return reader.rows() if reader is not None else iter(())

    def row_reader(self, sheet: str) -> "SheetRows | None":
        """The sheet's rows from any row on; the sheet is parsed once and kept in memory."""
        data = self._parsed.get(sheet)
        if data is None:
            try:
                data = self._book.get_sheet_by_name(sheet)
            except BaseException as exc:  # any error of a damaged part (calamine's, zip, xml, a panic...)
                _reraise_interrupts(exc)
                raise UnreadableFile(
                    f"cannot read the sheet ({_first_line(exc)})", file=self.display_name, sheet=sheet,
                    hint="try --reader openpyxl, or open and re-save it in Excel",
                ) from None
            # Kept while its rows are read; validate releases the sheets it does not use.
            self._parsed[sheet] = data
        if data.start is None:
            return None
        return SheetRows(data)

    def close(self) -> None:
        try:
            self._book.close()
        except Exception:  # pragma: no cover - closing a closed book
            pass


class SheetRows:
    """Rows of a sheet that calamine has parsed, read forward from any row (see Workbook.row_reader)."""

    def __init__(self, data):
        self._data = data
        self._raw = data.iter_rows()
        self._next = 1  # the row number next(self._raw) gives
        # iter_rows() starts at row 1 but at the first used column: put the columns back.
        self._pad = [None] * data.start[1]

    @property
    def last_row(self) -> int:
        return self._data.end[0] + 1

    def rows(self) -> Iterator[Row]:
        """The remaining rows, as ``(row number, values)``."""
        return self._convert(self._raw)

    def between(self, first: int, last: int) -> list[Row]:
        """Rows ``first`` to ``last`` (a later call must start after ``last``)."""
        if first < self._next:
            raise ValueError(f"row {first} was read already")
        skip = first - self._next
        if skip:
            next(itertools.islice(self._raw, skip - 1, None), None)  # unconverted: cheap
            self._next = first
        return list(self._convert(itertools.islice(self._raw, last - first + 1)))

    def _convert(self, raw_rows) -> Iterator[Row]:
        pad = self._pad
        datetime_class, str_class, float_class = dt.datetime, str, float
        # calamine gives "" for empty cells, floats for numbers and date/datetime for date cells;
        # error cells arrive as "" too, which is why validate sends workbooks with errors to openpyxl.
        for raw in raw_rows:
            index = self._next
            self._next = index + 1
            # Text first (most cells, the empty ones included), by class: no comparison of a
            # number with "".
            values = [
                (v or None) if v.__class__ is str_class else (
                    int(v) if v.__class__ is float_class and v.is_integer() and -2**53 < v < 2**53 else
                    (normalise(v) if v.__class__ is datetime_class else v))
                for v in raw
            ]
            if pad and values:
                values = pad + values
            end = len(values)
            while end and values[end - 1] is None:
                end -= 1
            yield index, tuple(values[:end])


class OpenpyxlWorkbook(Workbook):
    reader = "openpyxl"

    def __init__(self, path: Path, display_name: str):
        super().__init__(path, display_name)
        import openpyxl

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._book = openpyxl.load_workbook(
                    str(path), read_only=True, data_only=True, keep_links=False, keep_vba=False
                )
        except zipfile.BadZipFile as exc:
            raise UnreadableFile(f"is not a readable workbook ({exc})", file=display_name) from None
        except BaseException as exc:  # openpyxl raises KeyError, ValueError, TypeError... on bad parts
            _reraise_interrupts(exc)
            raise UnreadableFile(
                f"is not a readable workbook ({_first_line(exc)})", file=display_name,
                hint="try --reader calamine, or open and re-save it in Excel",
            ) from None
        if not self._book.worksheets and _is_strict_ooxml(path):
            raise UnreadableFile(
                "is a Strict Open XML workbook, which openpyxl reads as having no sheets",
                file=display_name, hint="use --reader calamine",
            )

    @property
    def sheet_names(self) -> list[str]:
        return [ws.title for ws in self._book.worksheets]

    @property
    def hidden_sheets(self) -> set[str]:
        return {ws.title for ws in self._book.worksheets if getattr(ws, "sheet_state", "visible") != "visible"}

    def rows(self, sheet: str) -> Iterator[Row]:
        last = 0
        try:
            ws = self._book[sheet]
            # A dimension record that is too small makes read-only mode drop rows silently.
            ws.reset_dimensions()
            for row in self._rows(ws):
                last = row[0]
                yield row
        except PipelineError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            # A cell whose content does not fit its type (text in a number cell...). openpyxl's
            # message quotes the cell, which may hold PII: say where, not what.
            raise UnreadableFile(
                f"cannot read the sheet: a malformed cell after row {last} ({type(exc).__name__})",
                file=self.display_name, sheet=sheet,
                hint="try --reader calamine, or open and re-save it in Excel",
            ) from None
        except BaseException as exc:  # a damaged part (BadZipFile, zlib.error, XML syntax...)
            _reraise_interrupts(exc)
            raise UnreadableFile(
                f"cannot read the sheet after row {last} ({type(exc).__name__}: {_first_line(exc)})",
                file=self.display_name, sheet=sheet,
                hint="try --reader calamine, or open and re-save it in Excel",
            ) from None

    def _rows(self, ws) -> Iterator[Row]:
        from openpyxl.cell.read_only import EmptyCell

        norm = normalise
        expected = 1
        last = self._last_row(ws)
        if last == 0:
            return
        # Up to the last row holding a value: a formatted cell at XFD1048576 (which the guard lets
        # through, as it holds nothing) must not cost a million empty rows.
        for cells in ws.iter_rows(max_row=last):
            row_number = None
            values = []
            for cell in cells:
                if cell is EmptyCell or getattr(cell, "row", None) is None:
                    values.append(None)
                    continue
                row_number = cell.row
                value = cell.value
                if cell.data_type == "e":
                    value = CellError(value)
                values.append(norm(value))
            if row_number is None:
                row_number = expected
            expected = row_number + 1
            yield row_number, _trim(values)

    def _last_row(self, ws) -> int | None:
        """The last row of the sheet holding a value (0: none), or None when it cannot be told."""
        from .extent import scan_extent

        path = getattr(ws, "_worksheet_path", None)
        archive = getattr(self._book, "_archive", None)
        if not path or archive is None:
            return None
        try:
            info = archive.getinfo(path)
            # The exact scan: quick_extent's bound counts rows that hold only formatting.
            return scan_extent(archive, info).max_row
        except Exception:  # the reader itself will say what is wrong with the part
            return None

    def close(self) -> None:
        self._book.close()


def open_workbook(path: Path | str, *, reader: str = "calamine", display_name: str | None = None) -> Workbook:
    path = Path(path)
    name = display_name or path.name
    if reader == "calamine":
        return CalamineWorkbook(path, name)
    if reader == "openpyxl":
        return OpenpyxlWorkbook(path, name)
    raise ValueError(f"unknown reader {reader!r}")


_DATE1904 = re.compile(rb"<(?:\w+:)?workbookPr\b[^>]*\bdate1904=\"(1|true)\"")


def read_date1904(path: Path) -> bool:
    """Whether the workbook counts dates from 1904 (old Mac Excel, Numbers)."""
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.replace("\\", "/").lower().lstrip("/") == "xl/workbook.xml":
                    with zf.open(name) as handle:
                        head = handle.read(64 * 1024)
                    return bool(_DATE1904.search(head))
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return False
    return False


def _is_strict_ooxml(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            with zf.open("[Content_Types].xml") as handle:
                return b"purl.oclc.org/ooxml" in handle.read(64 * 1024) or _strict_workbook(zf)
    except (zipfile.BadZipFile, OSError, KeyError):
        return False


def _strict_workbook(zf: zipfile.ZipFile) -> bool:
    try:
        with zf.open("xl/workbook.xml") as handle:
            return b"purl.oclc.org/ooxml" in handle.read(64 * 1024)
    except KeyError:
        return False


def _extension_lies(path: Path) -> bool:
    """An .xlsx/.xlsm name on a file that is really BIFF (.xls) or OpenDocument (.ods)."""
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            return True
        if head.startswith(b"PK"):
            with zipfile.ZipFile(path) as zf:
                return "mimetype" in zf.namelist() and "[Content_Types].xml" not in zf.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return False


def _reraise_interrupts(exc: BaseException) -> None:
    """Let Ctrl-C, exit and generator shutdown through; every other exception a reader raises
    on a damaged or odd file (including a Rust panic, a BaseException) becomes UnreadableFile."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, PipelineError)):
        raise exc


def _first_line(exc: BaseException) -> str:
    # The readers' messages quote cell text ("Unrecognized boolean cell value: <the cell>"),
    # which may be a name from a PII column: keep the message, drop what it quotes.
    return safe_reason(exc)


def has_error_cells(path: Path, chunk: int = 1 << 20) -> bool:
    """Whether any worksheet holds an error cell (``t="e"``): a streaming byte scan, no XML parse."""
    from .extent import ERROR_TYPES as needles, worksheet_parts

    try:
        with zipfile.ZipFile(path) as zf:
            sheets = worksheet_parts(zf)  # whatever their names: sheet1.bin is read as a sheet
            for info in zf.infolist():
                name = info.filename.replace("\\", "/").lower().lstrip("/")
                if name not in sheets:
                    continue
                tail = b""
                with zf.open(info) as handle:
                    while block := handle.read(chunk):
                        window = tail + block
                        if needles[0] in window or needles[1] in window:
                            return True
                        tail = block[-8:]
    except Exception:  # noqa: BLE001 - BadZipFile, zlib.error...: the reader reports the damage
        return False
    return False


# calamine copies a shared string into every cell that refers to it: one 1 MB string used by
# 12,000 cells (poi__poc-shared-strings.xlsx, a 100 KB file) needs 12 GB, and a failed allocation
# aborts the process. openpyxl shares one string object. Before calamine opens a workbook, the
# text its cells would hold is added up (streaming, without parsing or expanding anything).
_SI_END = re.compile(rb"</(?:\w+:)?si>")
#: A value cell's <v>digits<: a shared-string cell's index. Numeric cells match too, which only
#: makes the sum an upper bound; attributes on <v> cannot hide a reference from it.
_V_INDEX = re.compile(rb"v[^<>]{0,4096}>\s*(\d{1,10})\s*<")


def shared_text_bytes(path: Path, stop_above: int) -> int:
    """An upper bound of the bytes of cell text the workbook's cells hold once every shared-string
    reference is replaced by its string; counting stops once above ``stop_above``."""
    from array import array

    try:
        with zipfile.ZipFile(path) as zf:
            parts = {info.filename.replace("\\", "/").lower().lstrip("/"): info for info in zf.infolist()}
            sst = parts.pop("xl/sharedstrings.xml", None)
            if sst is None:
                return 0
            lengths = array("Q")
            previous = 0
            for offset, buf, start in _blocks(zf, sst, _SI_END):
                for match in _SI_END.finditer(buf, start):
                    lengths.append(offset + match.end() - previous)
                    previous = offset + match.end()
            longest = max(lengths, default=0)
            if longest <= 64:
                return 0  # short strings only: no amplification worth counting
            from .extent import worksheet_parts

            worksheets = worksheet_parts(zf)
            sheets = [info for name, info in parts.items()
                      if (name.startswith("xl/") and name.endswith(".xml")) or name in worksheets]
            # Cheap bound first: every value cell closes a </v> (counted in C, at memory speed).
            closings = sum(buf.count(b"v>", start) for info in sheets for _, buf, start in _blocks(zf, info, None))
            if closings * longest <= stop_above:
                return closings * longest
            count, total = len(lengths), 0
            for info in sheets:
                for _, buf, start in _blocks(zf, info, _V_INDEX):
                    total += sum(lengths[i] for i in map(int, _V_INDEX.findall(buf, start)) if i < count)
                    if total > stop_above:
                        return total
            return total
    except Exception:  # noqa: BLE001 - BadZipFile, zlib.error...: the reader reports the damage
        return 0


def _blocks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, pattern: re.Pattern | None, block: int = 1 << 20,
            keep: int = 4200):
    """``(offset, buffer, start)`` over an entry, block by block: matches of ``pattern`` found
    from ``start`` in one buffer are never found again in the next one, and a match cut by a
    block boundary (shorter than ``keep``) is found whole in the next. Without a pattern, the
    buffers overlap by one byte (for counting a two-byte needle)."""
    offset, buf, start = 0, b"", 0
    with zf.open(info) as handle:
        while chunk := handle.read(block):
            buf += chunk
            yield offset, buf, start
            if pattern is None:
                cut = len(buf) - 1
            else:
                last_end = start
                for match in pattern.finditer(buf, max(start, len(buf) - keep)):
                    last_end = match.end()
                cut = max(len(buf) - keep, last_end)
            offset += cut
            buf = buf[cut:]
            start = 0 if pattern is None else max(0, last_end - cut)
    return


def _refuse_shared_string_bomb(path: Path, display_name: str) -> None:
    from ..errors import LimitExceeded
    from .guard import ENV_VARS, Limits, _size

    limit = Limits.from_env().max_uncompressed_bytes
    total = shared_text_bytes(path, limit)
    if total > limit:
        raise LimitExceeded(
            f"its shared strings expand to more than {_size(limit)} of cell text in memory (a shared-string "
            f"amplification; max_uncompressed_bytes, set {ENV_VARS['max_uncompressed_bytes']} to raise it)",
            file=display_name,
            hint="read it with --reader openpyxl, which does not copy shared strings",
        )
