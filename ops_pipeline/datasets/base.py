"""What a dataset is: its columns, how its table is found, how a row is checked and transformed.

A new kind of input file is a new module in this package (or a third-party package's entry point,
see :mod:`.registry`) that defines a :class:`Dataset`; the stages are generic over it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from ..findings import Finding, column_letter, make_finding, merge_codes

HEADER_SCAN_ROWS = 50
#: Longest sheet name the lineage records (Excel allows 31; a crafted file may hold more).
MAX_SHEET_NAME = 100
#: Longer cell text is never a header (see match_header).
MAX_HEADER_CHARS = 200


def header_key(text: object) -> str:
    """Headers match ignoring case, spaces and underscores."""
    return re.sub(r"[\s_]+", "", str(text)).casefold() if text is not None else ""


@dataclass(frozen=True)
class Column:
    field: str
    header: str
    aliases: tuple[str, ...] = ()
    required: bool = True
    pii: bool = False
    #: informational columns the dataset recognises but does not load
    ignored: bool = False
    #: why a column the dataset recognises is not loaded, when that is a finding (MAPS exports)
    unloaded: str | None = None

    @property
    def keys(self) -> set[str]:
        return {header_key(self.header), *(header_key(a) for a in self.aliases)}


@dataclass
class Problem:
    """A rule broken by one cell of a row (turned into a Finding with the cell's location)."""

    code: str
    message: str
    field: str
    value: Any = None


@dataclass
class Table:
    """Where the data sits: the sheet, the header row and which column holds which field."""

    sheet: str
    header_row: int
    positions: dict[str, int]  # field → 0-based column index
    extra_columns: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    #: (field, column index) of the columns the dataset loads, in header order
    loaded: list[tuple[str, int]] = field(default_factory=list)

    #: field → the column's header as the file writes it, for a text file (MAPS export), whose
    #: findings name the column by its header (``users.tsv:14:EMAIL``) rather than by a letter
    names: dict[str, str] | None = None

    def letter(self, field_name: str) -> str | None:
        if self.names is not None:
            return self.names.get(field_name)
        index = self.positions.get(field_name)
        return column_letter(index) if index is not None else None

    def letters(self) -> dict[str, str]:
        """field → how findings name its column (a letter, or a text file's header)."""
        if self.names is not None:
            return dict(self.names)
        return {f: column_letter(i) for f, i in self.positions.items()}


@dataclass
class RowOutcome:
    """What validation made of one row: exactly one of valid, rejected or skipped."""

    row: int
    values: dict
    problems: list[Problem] = field(default_factory=list)
    skip_reason: str | None = None


class Dataset:
    """Base of the datasets. Subclasses set the class attributes and implement the hooks."""

    name: str = ""
    title: str = ""
    columns: tuple[Column, ...] = ()
    preferred_sheets: tuple[str, ...] = ()
    entity_order: tuple[str, ...] = ()
    #: (entity, field): the ids OPS gives new records of ``entity`` can be written back into the
    #: cells of ``field``'s column (``ops-pipeline writeback``); None when the file has no id column.
    writes_back: tuple[str, str] | None = None
    #: what this layout of the file is called in messages ("classic", "current")
    layout: str = ""
    #: The names of other datasets whose files a run of this one also accepts: the layout whose
    #: header validate finds is the run's (see ``stages.layout_of``), so that a file in any of them
    #: just works; a header mixing two is an error.
    layouts: tuple[str, ...] = ()
    #: The money the report totals (:mod:`ops_pipeline.money`): (amount field, field to group by
    #: status, date field whose federal fiscal year groups the amounts; either may be None), or
    #: None for a file without amounts.
    money: tuple[str, str | None, str | None] | None = None
    #: The finding codes this dataset's rules emit beyond the generic ones (``findings.CODES``):
    #: code → (severity, what it means). Registered when the dataset is discovered; a finding with
    #: a code registered nowhere is a programming error.
    finding_codes: dict[str, tuple[str, str]] = {}

    def codes(self) -> dict[str, tuple[str, str]]:
        """Every finding code this dataset's findings may carry: the generic ones and its own."""
        return merge_codes(self.finding_codes, owners=(f"dataset {self.name!r}",))

    # -- locating the table -------------------------------------------------------------------
    def match_header(self, values: tuple) -> dict[str, int]:
        lookup = {key: col for col in self.columns for key in col.keys}
        found: dict[str, int] = {}
        for index, value in enumerate(values):
            # A header is a few words: long text (a 32,000-character cell repeated across the
            # first rows of a hostile sheet) is never normalised, which would take minutes.
            column = lookup.get(header_key(value)) if isinstance(value, str) and len(value) <= MAX_HEADER_CHARS \
                else None
            if column and column.field not in found:
                found[column.field] = index
        return found

    def locate(self, sheet: str, rows: Iterable[tuple[int, tuple]]) -> tuple[Table | None, int]:
        """Find the header row among the first rows of a sheet.

        Returns the table (or None) and how many required columns the best candidate matched, so
        that the caller can pick the best sheet.
        """
        required = [c for c in self.columns if c.required]
        best: tuple[int, int, tuple] | None = None
        for row_number, values in rows:
            if row_number > HEADER_SCAN_ROWS:
                break
            found = self.match_header(values)
            score = sum(1 for c in required if c.field in found)
            if score and (best is None or score > best[0]):
                best = (score, row_number, values)
                if score == len(required):
                    break
        if best is None or best[0] < 2:
            return None, best[0] if best else 0
        score, header_row, values = best
        positions = self.match_header(values)
        table = Table(sheet=sheet, header_row=header_row, positions=positions,
                      loaded=[(f, i) for f, i in positions.items() if not self.column(f).ignored])
        known = {key for c in self.columns for key in c.keys}
        seen: dict[str, int] = {}
        for index, value in enumerate(values):
            if value is None or str(value).strip() == "":
                continue
            if isinstance(value, str) and len(value) > MAX_HEADER_CHARS:
                value = value[:MAX_HEADER_CHARS] + "..."  # not a header; shown shortened
            key = header_key(value)
            if key not in known:
                table.extra_columns.append(str(value).strip())
            elif key in seen:
                table.findings.append(make_finding(
                    "duplicate-column", f"column {value!r} appears twice (first in {column_letter(seen[key])})",
                    sheet=sheet, row=header_row, column=column_letter(index),
                ))
            seen.setdefault(key, index)
        if len(sheet) > MAX_SHEET_NAME:
            # The lineage names the sheet: the database would refuse it at load, blaming itself.
            table.findings.append(make_finding(
                "too-long", f"the sheet name has {len(sheet)} characters, more than the {MAX_SHEET_NAME} OPS stores "
                "(Excel allows 31)", sheet=sheet[:MAX_SHEET_NAME] + "…",
            ))
        for column in required:
            if column.field not in positions:
                table.findings.append(make_finding(
                    "missing-column", f"required column {column.header!r} is not in the header row",
                    sheet=sheet, row=header_row, field=column.field,
                ))
        return table, score

    # -- rows ---------------------------------------------------------------------------------
    def row_values(self, table: Table, values: tuple) -> dict:
        """The row's cells by field name, for the columns the dataset loads (not informational ones)."""
        width = len(values)
        return {name: (values[index] if index < width else None) for name, index in table.loaded}

    def skip_reason(self, values: dict) -> str | None:
        """Why a row is not data (blank, placeholder, totals...), or None for a data row."""
        return None

    def check_row(self, values: dict, state: dict) -> tuple[dict, list[Problem]]:  # pragma: no cover
        """Parse and check one row's cells. ``state`` persists across the rows of a file;
        ``state["seen"]`` maps each of :meth:`row_keys` already met to the row it was first on."""
        raise NotImplementedError

    def row_keys(self, parsed: dict) -> tuple:
        """The values of a row that must be unique in the file, as hashable keys."""
        return ()

    def quick_check(self, table: Table, state: dict, max_chars: int) -> Callable[[tuple, int], dict | None] | None:
        """An optional fast path for validation: a function of (row cells, row number) that returns
        the parsed values of a plainly valid data row, exactly as check_row would (and records its
        unique keys in ``state["seen"]``), or None to send the row through skip_reason and
        check_row: for any text longer than ``max_chars`` (refused by the caller), and whenever in
        doubt. It must never decide anything the full path would decide otherwise (tested)."""
        return None

    # -- transform ----------------------------------------------------------------------------
    def transform(self, rows: Iterator[dict], context: dict) -> "TransformResult":  # pragma: no cover
        raise NotImplementedError

    def entities(self) -> tuple:
        """What the dataset loads into OPS: its :class:`ops_pipeline.db.entities.EntitySpec`
        declarations (with the reference entities its links resolve against). A staged entity file
        that no declaration loads stops the load with one line; none is skipped silently."""
        return ()

    def column(self, field_name: str) -> Column:
        for column in self.columns:
            if column.field == field_name:
                return column
        raise KeyError(field_name)

    def pii_fields(self) -> set[str]:
        return {c.field for c in self.columns if c.pii}


@dataclass
class TransformResult:
    """Entities in load order (each a dict with entity, key, values, links, lineage) and notes."""

    entities: Iterator[dict]
    summary: Callable[[], dict]


def row_ranges(rows: Iterable[int]) -> str:
    """[14, 15, 16, 20] → "14-16,20": compact lineage of the rows an entity came from."""
    ordered = sorted(set(rows))
    parts: list[str] = []
    start = prev = None
    for row in ordered:
        if start is None:
            start = prev = row
        elif row == prev + 1:
            prev = row
        else:
            parts.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = row
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else str(start))
    return ",".join(parts)
