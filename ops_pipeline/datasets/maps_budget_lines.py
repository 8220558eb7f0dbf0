"""What the four MAPS budget-line exports share: their entities, and how a line is read.

A MAPS budget line is one ``budget_line_item`` row and its subtype row (``contract_budget_line_item``
...), with its MAPS id as the row's own id (``SYS_BUDGET_ID``, below 15000: OPS's sequence starts
there). Its parent is the agreement of the line's own kind with that MAPS id
(``agreement.agreement_type``, ``agreement.maps_sys_id``), for direct obligations too: a line
whose parent OPS does not have is rejected (``BLI_ORPHAN``), never stored as an orphan, and never
matched against another kind's agreement. CANs (``SYS_CAN_ID`` = ``can.id``), object class codes
(``OBJECT_CLASS_CODE`` = ``object_class_code.code``) and ``CLOSED_BY`` (``ops_user.id``) are optional
references: unresolved, the line loads without them and the finding says so (``REF_UNRESOLVED``).
A line id OPS (or an earlier file of the same migration) holds as another kind of line is a
``KEY_COLLISION`` error, never an overwrite.

The dataset modules (``maps_contract_budget_lines.py`` ...) declare their columns and read their
own extra columns; the rest is here.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Iterator

from ..db import ops_models as m
from ..db.entities import EntitySpec, Key, Link, Subtype, Unique
from .. import maps
from ..maps import MapsDataset, Parse, col
from .base import TransformResult, row_ranges
from .cells import FULL

#: kind -> (subtype model, MAPS parent id column, what MAPS.md calls the agreement)
KINDS = {
    "CONTRACT": (m.ContractBudgetLineItem, "SYS_CONTRACT_ID", "contract"),
    "GRANT": (m.GrantBudgetLineItem, "SYS_GRANTS_ID", "grant"),
    "IAA": (m.IAABudgetLineItem, "SYS_IAA_ID", "IAA"),
    "DIRECT_OBLIGATION": (m.DirectObligationBudgetLineItem, "SYS_DIRECT_OBLIGATION_ID", "direct obligation"),
}

#: OPS's ORM defaults of a new line's flags (on_hold, certified and closed are NOT NULL without a
#: database default); a kind that reads one of them from its file writes it instead.
LINE_DEFAULTS = {"on_hold": False, "certified": False, "closed": False, "is_under_current_resolution": False,
                 "is_obe": False}

#: The columns every kind writes on ``budget_line_item`` (staged under these names).
COMMON_FIELDS = ("line_description", "comments", "date_needed", "amount", "status", "proc_shop_fee_percentage")

#: What identifies a line MAPS gives no id for (as the budget workbook's lines without one).
LINE_SIGNATURE = ("agreement_id", "can_id", "line_description", "date_needed", "amount")

DETAIL_KEY = ("grants_number", "grantee_name", "educational_institution", "state_code")

SUBTYPES = {"CONTRACT": m.ContractBudgetLineItem, "GRANT": m.GrantBudgetLineItem, "IAA": m.IAABudgetLineItem,
            "DIRECT_OBLIGATION": m.DirectObligationBudgetLineItem, "AA": m.AABudgetLineItem}


def agreement_reference() -> EntitySpec:
    """The agreements a line's parent is looked up in, keyed by (agreement_type, maps_sys_id): the
    MAPS agreements datasets' own declaration, never written by a budget-line load."""
    from .maps_contracts import maps_agreement_spec

    return maps_agreement_spec()


def reference_specs() -> tuple[EntitySpec, ...]:
    """The records a line refers to and never writes: CANs, users (CLOSED_BY), object class codes."""
    return (
        EntitySpec("can", m.CAN, Key(("id",)), insert=False, label="CAN"),
        EntitySpec("ops_user", m.User, Key(("id",)), insert=False, label="user"),
        EntitySpec("object_class_code", m.ObjectClassCode, Key(("code",)), insert=False),
    )


def detail_spec() -> EntitySpec:
    """A grant line's grantee details: one row per (grant number, grantee, institution, state),
    shared by every line that names the same four values."""
    return EntitySpec(
        "grant_budget_line_item_detail", m.GrantBudgetLineItemDetail, Key(DETAIL_KEY, nullable=DETAIL_KEY),
        fields=DETAIL_KEY, update="never", label="grantee details")


def line_spec(kind: str, fields: tuple[str, ...], *, extra_links: tuple[Link, ...] = ()) -> EntitySpec:
    """The budget line of one kind: ``fields`` are the staged values it writes beyond
    :data:`COMMON_FIELDS` (on the parent table or its subtype table alike)."""
    written = COMMON_FIELDS + fields
    links = (
        _parent_link(kind),
        Link("can", "can", "can_id", field="sys_can_id", code="REF_UNRESOLVED"),
        Link("object_class_code", "object_class_code", "object_class_code_id", field="object_class_code",
             code="REF_UNRESOLVED"),
        *extra_links,
    )
    return EntitySpec(
        "budget_line_item", m.BudgetLineItem,
        # A line without a SYS_BUDGET_ID is the stored line under the same agreement with the same
        # CAN, description, date needed and amount (else a new line, with an id from OPS's sequence).
        Key(("id",), by_id="id", signature=LINE_SIGNATURE),
        fields=written,
        links=links,
        subtype=Subtype("budget_line_item_type", SUBTYPES, value="budget_line_item_type",
                        conflict_code="KEY_COLLISION", columns={kind: _subtype_columns(kind, written, links)}),
        defaults={name: value for name, value in LINE_DEFAULTS.items() if name not in written},
        # A value given replaces OPS's; a blank cell keeps it (as the MAPS agreements do): a rerun
        # of an older export never wipes what OPS users filled in since.
        update="given",
        label="budget line",
    )


def _subtype_columns(kind: str, fields: tuple[str, ...], links: tuple[Link, ...]) -> tuple[str, ...]:
    """The written columns the kind's subtype table holds (a grant line's ``details_id``)."""
    parent, own = m.BudgetLineItem.__table__.c, KINDS[kind][0].__table__.c
    return tuple(name for name in (*fields, *(link.column for link in links if link.column))
                 if name not in parent and name in own)


def _parent_link(kind: str) -> Link:
    _model, parent_column, called = KINDS[kind]
    return Link("agreement", "agreement", "agreement_id", missing="reject", field=parent_column.lower(),
                code="BLI_ORPHAN", explain=f"a line's parent is the {called} with its {parent_column}")


def mod_spec(kind: str = "CONTRACT") -> EntitySpec:
    """An agreement modification a contract line names (MOD_NBR, SYS_TYPE_OF_MODE_ID): one per
    (agreement, number), shared by the lines that name it."""
    return EntitySpec(
        "agreement_mod", m.AgreementMod, Key(("agreement_id", "number"), via={"agreement_id": "agreement"}),
        fields=("number", "mod_type"), links=(_parent_link(kind),), update="given", label="agreement mod")


def clin_spec(kind: str = "CONTRACT") -> EntitySpec:
    """A contract line item number (SYS_CLIN_ID, below 5000, is its OPS id), under the line's contract."""
    # OPS holds a CLIN number once per contract (clin_number_agreement_id_key): a second SYS_CLIN_ID
    # with that number is refused with its cell, never left to the database's error.
    return EntitySpec(
        "clin", m.CLIN, Key(("id",), by_id="id"), fields=("number", "name", "pop_start_date", "pop_end_date"),
        links=(_parent_link(kind),), update="given", label="CLIN",
        unique=(Unique(("number", "agreement_id"), code="KEY_COLLISION", field="clin"),))


def invoice_spec() -> EntitySpec:
    """The invoice line number of a contract line: one invoice per line, loaded after it."""
    return EntitySpec(
        "invoice", m.Invoice, Key(("budget_line_item_id",), via={"budget_line_item_id": "budget_line"}),
        fields=("invoice_line_number",),
        links=(Link("budget_line", "budget_line_item", "budget_line_item_id", missing="reject",
                    field="invoice_line_nbr", code="BLI_ORPHAN",
                    explain="the invoice belongs to the line on the same row, which is not loaded"),),
        update="given", label="invoice")


def mod_link() -> Link:
    # The mod is loaded just before the line (its own spec), under the same parent: found whenever
    # the line's parent is (a missing parent is the line's own BLI_ORPHAN).
    return Link("mod", "agreement_mod", "mod_id", missing="ignore")


def clin_link() -> Link:
    return Link("clin", "clin", "clin_id", missing="ignore")


def closed_by_link() -> Link:
    return Link("closed_by", "ops_user", "closed_by", field="closed_by", code="REF_UNRESOLVED")


def detail_link() -> Link:
    # Created by the same load just before (its own spec), so always found; "ignore": no finding.
    return Link("details", "grant_budget_line_item_detail", "details_id", missing="ignore")


# -- reading a line -----------------------------------------------------------------------------

STATUSES = m.ENUMS["budgetlineitemstatus"]
#: The columns whose absence at the end of a row means the row was cut short (an export that broke
#: mid-line): loading it would store a line without its amount and status.
TRUNCATION = ("amount", "status")

_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)  # ASCII digits only, as Parse
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_MONEY = re.compile(r"-?\d{1,10}(?:\.\d{1,2})?", re.ASCII)
_FRACTION = re.compile(r"[01](?:\.\d+)?|\.\d+", re.ASCII)
_CENT = Decimal("0.01")
_FLAGS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class Cell:
    """How one column's cell becomes a staged value, said once for both validation paths:
    ``read(p)`` on the full path (a wrong cell is a coded problem, through :class:`Parse`), and
    ``fast(text)`` on the fast path: the value of a plainly right cell (stripped, not blank), or
    :data:`FULL` whenever the full path might decide otherwise. ``blank``: a blank cell's value."""

    __slots__ = ("key", "field", "read", "fast", "blank", "repeats")

    def __init__(self, key: str, field: str, read, fast, *, blank=None, repeats: bool = True):
        self.key, self.field, self.read, self.fast, self.blank = key, field, read, fast, blank
        self.repeats = repeats  # worth remembering cell by cell (codes, dates, flags; not descriptions)


def text(key: str, field: str) -> Cell:
    return Cell(key, field, lambda p: p.text(field), lambda t: t, repeats=False)


def integer(key: str, field: str) -> Cell:
    return Cell(key, field, lambda p: p.integer(field), lambda t: int(t) if _INTEGER.fullmatch(t) else FULL)


def maps_id(key: str, field: str, table: str, *, repeats: bool = True) -> Cell:
    """A MAPS id inside the range OPS keeps for the table's MAPS ids (ID_OUT_OF_RANGE otherwise)."""
    def fast(t):
        if not _INTEGER.fullmatch(t):
            return FULL
        value = int(t)
        # the limits as maps has them now (a benchmark lifts the budget lines' for a larger set)
        return value if 1 <= value < maps.ID_LIMITS[table] else FULL

    return Cell(key, field, lambda p: p.id(field, table), fast, repeats=repeats)


def parent_id(key: str, field: str) -> Cell:
    """An agreement's MAPS id (agreements have no reserved range: any whole number from 1)."""
    def read(p):
        value = p.integer(field)
        if value is not None and value < 1:
            p.problem("BAD_NUMBER", field, f"MAPS id {value} is not a MAPS id (1 or more)", value)
            return None
        return value

    def fast(t):
        value = int(t) if _INTEGER.fullmatch(t) else 0
        return value if value >= 1 else FULL

    return Cell(key, field, read, fast)


def date(key: str, field: str) -> Cell:
    def fast(t):
        if not _DATE.fullmatch(t):
            return FULL
        try:
            return dt.date.fromisoformat(t)
        except ValueError:
            return FULL

    return Cell(key, field, lambda p: p.date(field), fast)


def money(key: str, field: str) -> Cell:
    """numeric(12,2) as a Decimal (never a float)."""
    return Cell(key, field, lambda p: p.money(field),
                lambda t: Decimal(t).quantize(_CENT) if _MONEY.fullmatch(t) else FULL, repeats=False)


def fraction(key: str, field: str) -> Cell:
    """A rate as a fraction from 0 to 1 (0.015 is 1.5 %), as a Decimal."""
    def fast(t):
        if not _FRACTION.fullmatch(t):
            return FULL
        value = Decimal(t)
        return value if value <= 1 else FULL

    return Cell(key, field, lambda p: p.fraction(field), fast)


def enum(key: str, field: str, names: tuple[str, ...]) -> Cell:
    """Exactly one of ``names`` (BAD_ENUM otherwise)."""
    exact = {name: name for name in names}
    return Cell(key, field, lambda p: p.enum(field, names), lambda t: exact.get(t, FULL))


def flag(key: str, field: str, *, blank=None, closed: bool = False) -> Cell:
    """A yes/no cell: true/false, yes/no, 1/0 in any case (``closed``: also MAPS's ``Closed``, any
    case, for a closed line); a blank one is ``blank`` (False where OPS keeps the flag NOT NULL)."""
    words = dict(_FLAGS, closed=True) if closed else _FLAGS

    def read(p):
        raw = p.raw(field)
        if raw is None:
            return blank
        if closed and raw.casefold() == "closed":
            return True
        return p.boolean(field)

    return Cell(key, field, read, lambda t: words.get(t.casefold(), FULL), blank=blank)


def common_columns(parent_header: str) -> tuple:
    """The columns every kind of line has (MAPS.md, budget lines): the parent's MAPS id first."""
    return (
        col(parent_header, required=True),
        col("SYS_BUDGET_ID", required=True),
        col("LINE_DESCRIPTION"),
        col("COMMENTS", pii=True),  # free text, masked like the budget workbook's Comments
        col("DATE_NEEDED"),
        col("SYS_CAN_ID"),
        col("AMOUNT", required=True),
        col("STATUS", required=True),
        col("OVERWRITE_PSC_FEE_RATE"),
    )


def common_cells(parent_header: str) -> tuple[Cell, ...]:
    """How the common columns are read (the staged keys are OPS's column names, and link sources)."""
    return (
        maps_id("sys_budget_id", "sys_budget_id", "budget_line_item", repeats=False),
        parent_id("parent", parent_header.lower()),
        text("line_description", "line_description"),
        text("comments", "comments"),
        date("date_needed", "date_needed"),
        money("amount", "amount"),
        enum("status", "status", STATUSES),
        fraction("proc_shop_fee_percentage", "overwrite_psc_fee_rate"),
        maps_id("can", "sys_can_id", "can"),
    )


class MapsBudgetLines(MapsDataset):
    """A MAPS budget-line export of one kind (no name: the four datasets derive from it).

    A subclass sets ``kind`` (``"CONTRACT"``...), its ``columns`` (:func:`common_columns` and its
    own), ``cells`` (:func:`common_cells` and its own), ``line_fields`` (the staged line values
    beyond :data:`COMMON_FIELDS`, named as OPS's columns) and its rules between cells in
    :meth:`check` and :meth:`plain`.
    """

    tier = 5
    kind: str = ""
    line_fields: tuple[str, ...] = ()
    entity_order = ("budget_line_item",)
    #: the entities several lines may name (a grantee's details, a mod, a CLIN): staged once each,
    #: with the lines they came from
    shared: tuple[str, ...] = ()

    # -- validate -------------------------------------------------------------------------------
    #: how each cell is read (common_cells and the kind's own), in the order of the staged values
    cells: tuple[Cell, ...] = ()

    def parse(self, p: Parse) -> dict:
        values = {cell.key: cell.read(p) for cell in self.cells}
        if not any(problem.code == "ROW_TRUNCATED" for problem in p.problems):
            short = [name for name in TRUNCATION if name not in p.values]
            if short:
                headers = " and ".join(self.column(name).header for name in short)
                cells = "cells" if len(short) > 1 else "cell"
                p.problem("ROW_TRUNCATED", short[0], f"the row ends before its {headers} {cells}: the export was "
                          "cut short here (MAPS's loader stored such a line without them)")
        self.check(p, values)
        return values

    def check(self, p: Parse, values: dict) -> None:
        """The kind's rules between cells (a problem through ``p``); :meth:`plain` must say False
        for every row this might find a problem in."""

    def plain(self, values: dict) -> bool:
        """Whether :meth:`check` has nothing to say of a row (the fast path's condition)."""
        return True

    def quick_check(self, table, state: dict, max_chars: int):
        """The fast path for a plainly right line (see Dataset.quick_check): the same cells read by
        each cell's ``fast`` reader, a cell's text remembered when it repeats (codes, dates, flags,
        statuses); anything else, a short row or a repeated SYS_BUDGET_ID goes to the full path."""
        index = dict(table.loaded)
        fields = [*self.required_values, *TRUNCATION, "sys_budget_id"]
        if any(name not in index for name in fields):
            return None  # a required column missing: the file is refused anyway
        need = max(index[name] for name in (*self.required_values, *TRUNCATION))
        plan = [(cell.key, index.get(cell.field), cell.fast, cell.blank, {} if cell.repeats else None)
                for cell in self.cells]
        seen = state.setdefault("seen", {})
        unique = ("sys_budget_id",)
        plain = self.plain
        miss = object()

        def quick(values: tuple, row_number: int) -> dict | None:
            width = len(values)
            if width <= need:
                return None
            out = {}
            for key, at, fast, blank, memo in plan:
                raw = values[at] if at is not None and at < width else None
                if raw is None:
                    out[key] = blank
                    continue
                value = memo.get(raw, miss) if memo is not None else miss
                if value is miss:
                    if len(raw) > max_chars:
                        return None
                    stripped = raw.strip()
                    value = fast(stripped) if stripped else blank
                    if memo is not None and len(memo) < 4096:
                        memo[raw] = value
                if value is FULL:
                    return None
                out[key] = value
            if out["parent"] is None or not plain(out):
                return None
            line_id = out["sys_budget_id"]
            if line_id is not None:
                key = (unique, (line_id,))
                if key in seen:
                    return None  # the full path names the line it was first on
                seen[key] = row_number
            return out

        return quick

    # -- transform ------------------------------------------------------------------------------
    def records(self, values: dict) -> Iterator[dict]:
        line = {name: values[name] for name in COMMON_FIELDS + self.line_fields}
        line["budget_line_item_type"] = self.kind
        links = {"agreement": {"agreement_type": self.kind, "maps_sys_id": values["parent"]}}
        if values["can"] is not None:
            links["can"] = {"id": values["can"]}
        code = values.get("object_class_code")
        if code is not None:
            links["object_class_code"] = {"code": code}
        self.add_links(values, links)
        yield {"entity": "budget_line_item", "key": {"id": values["sys_budget_id"]}, "values": line, "links": links}

    def add_links(self, values: dict, links: dict) -> None:
        """The kind's own links of a line (its CLIN, mod, grantee details, closing user)."""

    def transform(self, rows: Iterator[dict], context: dict) -> TransformResult:
        """Each line as it comes; a shared record once, after the lines, with every line naming it
        (the first line's values: OPS keeps one)."""
        counts = {kind: 0 for kind in self.entity_order}
        file, sheet = context.get("file_sha256"), context.get("sheet")
        shared_kinds = self.shared

        def entities() -> Iterator[dict]:
            shared: dict[tuple, tuple[dict, list]] = {}
            for row in rows:
                number = row["row"]
                lineage = {"file": file, "sheet": sheet, "rows": str(number)}
                for record in self.records(row["values"]):
                    kind = record["entity"]
                    record.setdefault("links", {})
                    if kind in shared_kinds:
                        key = (kind, json.dumps(record["key"], sort_keys=True, default=str))
                        held = shared.get(key)
                        if held is None:
                            shared[key] = (record, [number])
                        else:
                            held[1].append(number)
                        continue
                    record["lineage"] = lineage
                    counts[kind] += 1
                    yield record
            for record, numbers in shared.values():
                record["lineage"] = {"file": file, "sheet": sheet, "rows": row_ranges(numbers)}
                counts[record["entity"]] += 1
                yield record

        return TransformResult(entities=entities(), summary=lambda: {"counts": dict(counts)})

    # -- load -----------------------------------------------------------------------------------
    def references(self) -> tuple[EntitySpec, ...]:
        return (agreement_reference(), *reference_specs())

