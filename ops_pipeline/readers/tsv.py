"""MAPS exports: tab-separated UTF-8 text, read as a one-sheet workbook.

A legacy export is UTF-8 (a byte-order mark is fine), tab-separated with a header row; a quoted
cell may span lines, ``""`` is an empty cell, lines end in LF or CRLF, and a row may stop short
(its missing trailing cells are absent, not empty). :class:`TsvBook` gives it the interface of
:class:`~ops_pipeline.readers.workbook.Workbook` so that validate reads it as it reads a sheet:
its one sheet is named after the file (``users.tsv``) and its rows are ``(line, cells)`` where
``line`` is the line the record starts on and each cell is its text, or None when empty.

It goes through the same guard as a workbook: the file's size, the rows, columns and cell length
limits, and text that is not UTF-8 or holds NUL, are each one line naming the line of the file.
"""
from __future__ import annotations

import csv
import os
import stat
from pathlib import Path
from typing import Iterator

from ..errors import LimitExceeded, UnreadableFile

#: The file names read as tab-separated text rather than as a workbook.
TEXT_SUFFIXES = (".tsv", ".txt", ".tab")
_BOM = "\ufeff"


def is_text_export(name: str | os.PathLike) -> bool:
    """Whether a file is read as a MAPS text export (by its name)."""
    return str(name).lower().endswith(TEXT_SUFFIXES)


def check_text_file(path: Path, limits, display_name: str) -> None:
    """Refuse a text export no reader should open: missing, not a regular file, too big, empty."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UnreadableFile(f"{display_name}: cannot be opened ({exc.strerror})", file=display_name) from None
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableFile(f"{display_name}: is not a regular file", file=display_name)
    max_bytes = getattr(limits, "max_file_bytes", None)
    if max_bytes and st.st_size > max_bytes:
        raise LimitExceeded(f"{display_name}: the file is {st.st_size:,} bytes, over the limit of {max_bytes:,}",
                            file=display_name, hint="raise OPS_PIPELINE_MAX_FILE_BYTES if the file is genuine")
    if st.st_size == 0:
        raise UnreadableFile(f"{display_name}: is empty", file=display_name,
                             hint="check that the upload or copy completed")


class TsvBook:
    """A MAPS export as a workbook of one sheet (see the module doc)."""

    reader = "tsv"
    date1904 = False
    hidden_sheets: set = frozenset()

    def __init__(self, path: Path | str, display_name: str | None = None, limits=None):
        self.path = Path(path)
        self.display_name = display_name or self.path.name
        self.sheet = Path(self.display_name).name
        self.max_rows = getattr(limits, "max_rows", None) or 1_048_576
        self.max_columns = getattr(limits, "max_columns", None) or 16_384
        self.max_cell_chars = getattr(limits, "max_cell_chars", None) or 32_767
        self._handles: list = []

    @property
    def sheet_names(self) -> list[str]:
        return [self.sheet]

    def release(self, sheet: str) -> None:
        pass

    def row_reader(self, sheet: str):
        return None

    def rows(self, sheet: str | None = None) -> Iterator[tuple[int, tuple]]:
        """The records of the file, in order, as ``(first line, cells)``."""
        handle = open(self.path, "rb")
        self._handles.append(handle)
        return self._records(handle)

    def header(self) -> tuple:
        """The first record (the header row), or () for a file without one."""
        for _, values in self.rows():
            if values:
                return values
        return ()

    def _lines(self, handle) -> Iterator[str]:
        """The file's lines as text, each checked: UTF-8 and no NUL, or one error naming the line."""
        self.line = 0
        for raw in handle:
            self.line += 1
            if b"\x00" in raw:
                raise UnreadableFile(f"line {self.line} holds a NUL byte: this is not a text export",
                                     file=self.display_name, sheet=None, row=self.line,
                                     hint="export the data again as UTF-8 tab-separated text")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UnreadableFile(
                    f"line {self.line} is not UTF-8 text (byte {exc.start + 1} of the line)", file=self.display_name,
                    row=self.line, hint="export the data again as UTF-8 tab-separated text") from None
            if self.line == 1 and text.startswith(_BOM):
                text = text[1:]
            yield text

    def _records(self, handle) -> Iterator[tuple[int, tuple]]:
        self.line = 0
        lines = self._lines(handle)
        # Cells are measured below against the cell limit, with the line; the csv module's own
        # limit would stop with a message naming neither.
        csv.field_size_limit(max(self.max_cell_chars * 4 + 16, 131_072))
        reader = csv.reader(lines, delimiter="\t", quotechar='"', doublequote=True, strict=True)
        max_rows, max_columns, max_chars = self.max_rows, self.max_columns, self.max_cell_chars
        count = 0
        try:
            while True:
                start = self.line + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise UnreadableFile(f"line {start}: the record is not well-formed tab-separated text ({exc})",
                                         file=self.display_name, row=start,
                                         hint="a quote that opens a cell must close it") from None
                count += 1
                if count > max_rows:
                    raise LimitExceeded(f"has more than {max_rows:,} rows", file=self.display_name, row=start,
                                        hint="raise OPS_PIPELINE_MAX_ROWS if the file is genuine")
                if len(cells) > max_columns:
                    raise LimitExceeded(f"line {start} has {len(cells):,} columns, more than {max_columns:,}",
                                        file=self.display_name, row=start,
                                        hint="raise OPS_PIPELINE_MAX_COLUMNS if the file is genuine")
                values = []
                for cell in cells:
                    if len(cell) > max_chars:
                        raise LimitExceeded(f"line {start}: a cell holds more than {max_chars:,} characters",
                                            file=self.display_name, row=start,
                                            hint="raise OPS_PIPELINE_MAX_CELL_CHARS if the file is genuine")
                    values.append(cell if cell else None)
                # A short row stays short: a cell the row does not reach is absent (see
                # MapsDataset), not empty.
                yield start, tuple(values)
        finally:
            handle.close()

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles.clear()

    def __enter__(self) -> "TsvBook":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
