"""MAPS, the legacy system OPS replaces: what every MAPS export dataset shares.

A MAPS export is a set of tab-separated files, one per type (users, projects, CANs, contracts,
budget lines...; ``MAPS.md``). Each type is a dataset module ``ops_pipeline/datasets/maps_<type>.py``
whose class derives from :class:`MapsDataset`, which gives it:

- the header: the first line of the file, matched column by column (ignoring case, spaces and
  underscores); a required column missing refuses the file, a column MAPS does not have is a
  ``COLUMN_UNKNOWN`` warning and is ignored, a column read but not loaded is ``COLUMN_UNLOADED``;
- each row: a row too short to reach a required cell is ``ROW_TRUNCATED``, a blank required cell
  ``missing-value``, a key repeated in the file ``KEY_DUPLICATE`` (naming the line it was first on);
  then the dataset's :meth:`MapsDataset.parse`, whose :class:`Parse` helper turns each cell into a
  value or a coded problem with its cell (``users.tsv:14:EMAIL``);
- the transform: the dataset's :meth:`MapsDataset.records` for each valid row, with its lineage.

Nothing MAPS holds is dropped or changed without a finding: the codes are :data:`MAPS_CODES`.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Iterator

from .db.bulk import SEQUENCE_STARTS
from .datasets.base import Column, Dataset, Problem, Table, TransformResult, header_key
from .errors import DataInvalid, UnreadableFile
from .findings import ERROR, INFO, WARNING, make_finding

#: MAPS ids go into OPS primary keys unchanged: OPS's sequences start above these (PRs #2466-#2525).
ID_LIMITS = SEQUENCE_STARTS

#: The findings of MAPS.md section 4 (each a silent loss of the loaders OPS used before), and the
#: cell-level codes of the MAPS datasets.
MAPS_CODES: dict[str, tuple[str, str]] = {
    "REF_UNRESOLVED": (WARNING, "an optional reference names a record OPS does not have: loaded without it"),
    "BLI_ORPHAN": (ERROR, "a budget line whose agreement OPS does not have"),
    "BLI_PARENT_AMBIGUOUS": (ERROR, "a budget line whose parent id matches agreements of several types"),
    "CAN_NO_FUNDING_DETAILS": (WARNING, "a CAN loaded without its funding details"),
    "VALUE_COERCED": (WARNING, "a value MAPS holds is loaded as another value OPS can hold"),
    "ROLE_DROPPED": (WARNING, "a user's role that OPS does not have is not given"),
    "DIVISION_UNMATCHED": (WARNING, "a user's division that OPS does not have: the user keeps the one OPS has"),
    "COLUMN_UNLOADED": (INFO, "a column MAPS exports that OPS has no place for: read, not loaded"),
    "COLUMN_UNKNOWN": (WARNING, "a column MAPS does not export: ignored"),
    "ROW_TRUNCATED": (ERROR, "the row ends before a required cell"),
    "KEY_DUPLICATE": (ERROR, "the row's key is already on an earlier row of the file"),
    "KEY_COLLISION": (ERROR, "the row's key is already used by another kind of record"),
    "ID_OUT_OF_RANGE": (ERROR, "a MAPS id outside the range OPS reserves for MAPS ids"),
    "BAD_ENUM": (ERROR, "not one of the values the column may hold"),
    "BAD_BOOLEAN": (ERROR, "not a yes/no value (true, false, yes, no, 1 or 0)"),
    "BAD_NUMBER": (ERROR, "not a number of the kind the column holds"),
}

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
# ASCII digits only: Python reads other scripts' digits as numbers, MAPS never writes them.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_WHOLE_FLOAT = re.compile(r"[+-]?\d+\.0+", re.ASCII)
#: a number as MAPS writes one: digits, thousands grouped by commas or not at all, decimals
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?", re.ASCII)
_MONEY_MAX = Decimal("9999999999.99")  # numeric(12,2)


def col(header: str, field: str | None = None, *, required: bool = False, pii: bool = False,
        unloaded: str | None = None) -> Column:
    """A MAPS column. ``required``: the column must be in the header (the file is refused
    without it). ``unloaded``: why OPS does not take the column's values (one ``COLUMN_UNLOADED``
    finding names the column; its cells are not staged)."""
    return Column(field or header.lower(), header, required=required, pii=pii, ignored=unloaded is not None,
                  unloaded=unloaded)


class Parse:
    """One row's cells, parsed field by field; each wrong cell is a problem with its cell."""

    __slots__ = ("values", "problems")

    def __init__(self, values: dict):
        self.values = values
        self.problems: list[Problem] = []

    # -- reading -------------------------------------------------------------------------------
    def raw(self, field: str) -> str | None:
        value = self.values.get(field)
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    def problem(self, code: str, field: str, message: str, value: Any = None) -> None:
        self.problems.append(Problem(code, message, field, value))

    def text(self, field: str) -> str | None:
        return self.raw(field)

    def integer(self, field: str) -> int | None:
        text = self.raw(field)
        if text is None:
            return None
        if _INTEGER.fullmatch(text):
            return int(text)
        if _WHOLE_FLOAT.fullmatch(text):  # an id a spreadsheet once turned into 12.0
            return int(Decimal(text))
        self.problem("BAD_NUMBER", field, f"{text!r} is not a whole number", text)
        return None

    def id(self, field: str, table: str) -> int | None:
        """A MAPS id: a whole number from 1 up to below the range OPS reserves for its own ids."""
        value = self.integer(field)
        if value is None:
            return None
        limit = ID_LIMITS[table]
        if not 1 <= value < limit:
            self.problem("ID_OUT_OF_RANGE", field,
                         f"MAPS id {value} is outside the range OPS keeps for MAPS {table} ids (1 to {limit - 1})",
                         value)
            return None
        return value

    def enum(self, field: str, names: Iterable[str], *, upper: bool = False,
             aliases: dict[str, str] | None = None) -> str | None:
        """One of ``names`` exactly (upper-cased first with ``upper``), or an alias's name."""
        text = self.raw(field)
        if text is None:
            return None
        names = tuple(names)
        candidate = text.upper() if upper else text
        if candidate in names:
            return candidate
        if aliases and text in aliases:
            return aliases[text]
        self.problem("BAD_ENUM", field, f"{text!r} is not one of {', '.join(names)}", text)
        return None

    def boolean(self, field: str) -> bool | None:
        text = self.raw(field)
        if text is None:
            return None
        folded = text.casefold()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        self.problem("BAD_BOOLEAN", field, f"{text!r} is not true/false, yes/no or 1/0", text)
        return None

    def date(self, field: str) -> dt.date | None:
        """A date written ``YYYY-MM-DD``, nothing else (a time part is refused)."""
        text = self.raw(field)
        if text is None:
            return None
        if _DATE.fullmatch(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
        self.problem("bad-date", field, f"{text!r} is not a date written YYYY-MM-DD", text)
        return None

    def datetime(self, field: str) -> dt.date | None:
        """A date written ``YYYY-MM-DD HH:MM:SS``, nothing else; its date."""
        text = self.raw(field)
        if text is None:
            return None
        if _DATETIME.fullmatch(text):
            try:
                return dt.datetime.fromisoformat(text).date()
            except ValueError:
                pass
        self.problem("bad-date", field, f"{text!r} is not a date and time written YYYY-MM-DD HH:MM:SS", text)
        return None

    def number(self, field: str) -> Decimal | None:
        text = self.raw(field)
        if text is None:
            return None
        try:
            value = Decimal(text.replace(",", "")) if _NUMBER.fullmatch(text) and any(
                c.isdigit() for c in text) else None
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            self.problem("BAD_NUMBER", field, f"{text!r} is not a number", text)
            return None
        return value

    def money(self, field: str) -> Decimal | None:
        """An amount OPS stores as numeric(12,2): at most two decimal places."""
        text = self.raw(field)
        if text is None:
            return None
        value = self.number(field)
        if value is None:
            self.problems[-1] = Problem("bad-amount", f"{text!r} is not an amount", field, text)
            return None
        if value.as_tuple().exponent < -2 and value != value.quantize(Decimal("0.01")):
            self.problem("bad-amount", field, f"{text!r} has more than two decimal places", text)
            return None
        if abs(value) > _MONEY_MAX:
            self.problem("amount-out-of-range", field, f"{text!r} is beyond what OPS stores (numeric(12,2))", text)
            return None
        return value.quantize(Decimal("0.01"))

    def fraction(self, field: str) -> Decimal | None:
        """A rate written as a fraction (0.015 for 1.5 %): from 0 to 1."""
        value = self.number(field)
        if value is None:
            return None
        if not Decimal(0) <= value <= Decimal(1):
            self.problem("BAD_NUMBER", field, f"{value} is not a fraction from 0 to 1 (0.015 is 1.5 %)", str(value))
            return None
        return value


class MapsDataset(Dataset):
    """Base of the MAPS export datasets (see the module doc)."""

    #: read as tab-separated text whatever the file is called (validate's choice of reader)
    text_export = True
    #: the MAPS type, as the export's file is usually called (``users``)
    maps_type: str = ""
    #: the place in MAPS.md's dependency order: 1 users; 2 projects, vendors, IAA agencies,
    #: procurement shops; 3 CANs; 4 agreements; 5 budget lines
    tier: int = 0
    #: fields whose cell must hold a value
    required_values: tuple[str, ...] = ()
    #: fields (or tuples of fields) unique in the file
    unique: tuple = ()
    layout = "MAPS export"
    finding_codes = MAPS_CODES

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every MAPS dataset may emit the MAPS codes, beside its own.
        if cls.finding_codes is not MAPS_CODES:
            cls.finding_codes = {**MAPS_CODES, **cls.finding_codes}

    # -- header ---------------------------------------------------------------------------------
    def locate(self, sheet: str, rows: Iterable[tuple[int, tuple]]) -> tuple[Table | None, int]:
        """The header is the file's first non-blank line."""
        for line, values in rows:
            if any(v not in (None, "") for v in values):
                break
        else:
            return None, 0
        positions: dict[str, int] = {}
        names: dict[str, str] = {}
        lookup = {key: c for c in self.columns for key in c.keys}
        table = Table(sheet=sheet, header_row=line, positions=positions, names=names)
        for index, value in enumerate(values):
            text = str(value).strip() if value is not None else ""
            if not text:
                continue
            column = lookup.get(header_key(text)) if len(text) <= 200 else None
            if column is None:
                shown = text if len(text) <= 60 else text[:60] + "…"
                table.extra_columns.append(shown)
                table.findings.append(make_finding(
                    "COLUMN_UNKNOWN", f"column {shown!r} is not a column of MAPS {self.maps_type} exports: ignored",
                    codes=self.codes(), sheet=sheet, row=line, column=shown))
                continue
            if column.field in positions:
                table.findings.append(make_finding(
                    "duplicate-column", f"column {text!r} appears twice (first in column {positions[column.field] + 1})",
                    sheet=sheet, row=line, column=text))
                continue
            positions[column.field] = index
            names[column.field] = text
            why = column.unloaded
            if why is not None:
                table.findings.append(make_finding(
                    "COLUMN_UNLOADED", f"column {text!r} is read but not loaded: {why}", codes=self.codes(),
                    sheet=sheet, row=line, column=text, field=column.field))
        table.loaded = [(f, i) for f, i in positions.items() if not self.column(f).ignored]
        for column in self.columns:
            # A column whose every cell must hold a value must be there too.
            if (column.required or column.field in self.required_values) and column.field not in positions:
                table.findings.append(make_finding(
                    "missing-column", f"required column {column.header!r} is not in the header row",
                    sheet=sheet, row=line, field=column.field))
        score = sum(1 for c in self.columns if c.required and c.field in positions)
        return table, score

    # -- rows -----------------------------------------------------------------------------------
    def row_values(self, table: Table, values: tuple) -> dict:
        """The row's cells by field; a cell beyond the end of a short row is absent (not None)."""
        width = len(values)
        return {name: values[index] for name, index in table.loaded if index < width}

    def skip_reason(self, values: dict) -> str | None:
        return "blank row" if all(v is None or str(v).strip() == "" for v in values.values()) else None

    def check_row(self, values: dict, state: dict) -> tuple[dict, list[Problem]]:
        p = Parse(values)
        truncated = [f for f in self.required_values if f not in values]
        for name in truncated:
            p.problem("ROW_TRUNCATED", name, f"the row ends before its {self.column(name).header} cell")
        for name in self.required_values:
            if name in values and p.raw(name) is None:
                p.problem("missing-value", name, f"{self.column(name).header} is required")
        parsed = self.parse(p)
        if not p.problems or all(pr.code not in ("ROW_TRUNCATED", "missing-value") for pr in p.problems):
            self._check_unique(parsed, state, p)
        return parsed, p.problems

    def _check_unique(self, parsed: dict, state: dict, p: Parse) -> None:
        seen = state.setdefault("seen", {})
        line = state.get("row")
        for unique in self.unique:
            fields = unique if isinstance(unique, tuple) else (unique,)
            key_values = tuple(parsed.get(f) for f in fields)
            if any(v is None for v in key_values):
                continue
            key = (fields, tuple(v.casefold() if isinstance(v, str) else v for v in key_values))
            first = seen.setdefault(key, line)
            if first != line:
                headers = ", ".join(self.column(f).header for f in fields)
                shown = ", ".join(str(v) for v in key_values)
                p.problem("KEY_DUPLICATE", fields[0], f"{headers} {shown} is already on line {first}: "
                          "MAPS would keep the last; which one is right?", shown)

    def parse(self, p: Parse) -> dict:  # pragma: no cover - every MAPS dataset defines it
        raise NotImplementedError

    # -- transform ------------------------------------------------------------------------------
    def records(self, values: dict) -> Iterable[dict]:  # pragma: no cover - every MAPS dataset defines it
        raise NotImplementedError

    def transform(self, rows: Iterator[dict], context: dict) -> TransformResult:
        counts = {kind: 0 for kind in self.entity_order}
        file, sheet = context.get("file_sha256"), context.get("sheet")

        def entities() -> Iterator[dict]:
            for row in rows:
                lineage = {"file": file, "sheet": sheet, "rows": str(row["row"])}
                for record in self.records(row["values"]):
                    record.setdefault("links", {})
                    record["lineage"] = lineage
                    counts[record["entity"]] = counts.get(record["entity"], 0) + 1
                    yield record

        return TransformResult(entities=entities(), summary=lambda: {"counts": dict(counts)})


def maps_datasets() -> list[type[MapsDataset]]:
    """Every MAPS dataset the catalogue knows, in dependency order (tier, then name)."""
    from .datasets.registry import discover

    found = [cls for cls in discover().datasets.values() if issubclass(cls, MapsDataset)]
    return sorted(found, key=lambda cls: (cls.tier, cls.name))


class UnrecognisedExport(UnreadableFile):
    """A text file whose header row is no MAPS export's (fetch then looks for a budget sheet's)."""


def recognise(header: tuple, *, file: str | None = None) -> type[MapsDataset]:
    """The MAPS dataset a header row belongs to: of those whose required columns it has all, the
    one knowing most of its columns. None fits, or two fit alike: one error naming the known ones."""
    keys = [header_key(v) for v in header if v is not None and str(v).strip()]
    ranked = []
    for cls in maps_datasets():
        known = {key for c in cls.columns for key in c.keys}
        required = [c for c in cls.columns if c.required]
        if not all(c.keys & set(keys) for c in required):
            continue
        ranked.append((sum(1 for k in keys if k in known), cls))
    ranked.sort(key=lambda item: -item[0])
    names = ", ".join(cls.name for cls in maps_datasets())
    if not ranked or ranked[0][0] == 0:
        raise UnrecognisedExport("the header row is not that of any MAPS export this tool knows", file=file,
                          hint=f"known datasets: {names}; or name one with --dataset")
    if len(ranked) > 1 and ranked[1][0] == ranked[0][0]:
        raise DataInvalid(f"the header row fits both {ranked[0][1].name} and {ranked[1][1].name}", file=file,
                          hint="name the dataset with --dataset")
    return ranked[0][1]


def recognise_file(path, *, display_name: str | None = None, limits=None) -> type[MapsDataset]:
    """:func:`recognise` on a text export's header row (read through the guard)."""
    from .readers.tsv import TsvBook, check_text_file

    name = display_name or str(getattr(path, "name", path))
    check_text_file(path, limits, name)
    with TsvBook(path, name, limits) as book:
        return recognise(book.header(), file=name)

