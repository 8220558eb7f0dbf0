"""OPS budget lines out to a workbook in the layout the budget workbook dataset reads back.

The loop this closes: budget staff download their lines, edit them in Excel, and submit the
workbook again. So the export writes exactly what the import reads: the dataset's sheet name and
headers, ``Sys_Budget_ID`` filled (each row is its OPS line), amounts as numbers in a currency
format, dates as date cells, the CAN as budget staff write it (``G99HRF2 (HS)``: its number, and
its description in parentheses). An exported workbook submitted unchanged finds every entity
unchanged and writes nothing.

A line the workbook cannot carry back is left out and counted (``left_out``): the import needs a
CAN, an amount and a status on every row, and skips a row whose agreement is named
``Placeholder``. Comments may hold names and e-mail addresses: their column is written only when
asked (``include_pii``); without it the import keeps the comments OPS has.

Lines are read with a streaming cursor and written as they come (:mod:`ops_pipeline.writers.xlsx`),
so memory stays bounded whatever the number of lines.
"""
from __future__ import annotations

import datetime as dt
import functools
import operator
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import and_, func, or_, select, type_coerce
from sqlalchemy.types import NullType

from .errors import UsageError
from .rules import RuleViolation
from .rules.budget import is_agreement_name
from .rules.can import parse_can
from .rules.codes import parse_status
from .rules.dates import fiscal_year
from .rules.portfolios import portfolio_for
from .writers.xlsx import DATE, MONEY, SheetWriter

#: How the workbook writes OPS's statuses and agreement types (each reads back as itself).
STATUS_WORDS = {"DRAFT": "Draft", "PLANNED": "Planned", "IN_EXECUTION": "Executing", "OBLIGATED": "Obligated"}
AGREEMENT_TYPE_WORDS = {"CONTRACT": "Contract", "GRANT": "Grant", "DIRECT_OBLIGATION": "Direct Obligation",
                        "IAA": "IAA", "AA": "AA"}
_CENT = Decimal("0.01")
#: Rows fetched from the database at a time.
BATCH = 5000


# -- what is exported ------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """Which lines to export; each given filter must match (several values of one: any of them)."""

    portfolios: tuple[str, ...] = ()  # portfolio abbreviations
    fiscal_years: tuple[int, ...] = ()  # federal fiscal years of the date needed
    cans: tuple[str, ...] = ()  # CAN numbers
    agreements: tuple[str, ...] = ()  # agreement names (case and spacing ignored) or OPS ids
    statuses: tuple[str, ...] = ()  # OPS statuses or the workbook's words for them
    line_ids: object = None  # a SELECT of line ids (the lines a run loaded)

    def as_dict(self) -> dict:
        return {k: list(v) for k, v in (("portfolio", self.portfolios), ("fiscal_year", self.fiscal_years),
                                        ("can", self.cans), ("agreement", self.agreements),
                                        ("status", self.statuses)) if v}


def line_query(filters: Filters = Filters()):
    """The SELECT of the lines to export, with everything a layout writes, in id order."""
    from .db import ops_models as m

    line, can, portfolio = m.BudgetLineItem.__table__, m.CAN.__table__, m.Portfolio.__table__
    agreement, project = m.Agreement.__table__, m.Project.__table__
    component, shop = m.ServicesComponent.__table__, m.ProcurementShop.__table__
    fee = m.ProcurementShopFee.__table__
    # Values as the driver gives them, without SQLAlchemy's per-value conversions (Decimal from
    # SQLite's floats, dates from its text, enum checks): two of the five seconds of reading
    # 100,000 lines. The layouts take amounts as Decimal or float and dates as date or ISO text.
    raw = NullType()
    # The layouts unpack a row in this order.
    query = (
        select(
            line.c.id, line.c.line_description, line.c.comments, type_coerce(line.c.amount, raw).label("amount"),
            type_coerce(line.c.date_needed, raw).label("date_needed"), type_coerce(line.c.status, raw).label("status"),
            can.c.number.label("can_number"), can.c.description.label("can_description"),
            portfolio.c.abbreviation.label("portfolio"), agreement.c.name.label("agreement_name"),
            type_coerce(agreement.c.agreement_type, raw).label("agreement_type"),
            project.c.title.label("project_title"),
            component.c.number.label("sc_number"), component.c.optional.label("sc_optional"),
            component.c.sub_component.label("sc_sub"), shop.c.abbr.label("shop"),
            type_coerce(fee.c.fee, raw).label("fee_rate"),
        )
        .select_from(line)
        .outerjoin(can, line.c.can_id == can.c.id)
        .outerjoin(portfolio, can.c.portfolio_id == portfolio.c.id)
        .outerjoin(agreement, line.c.agreement_id == agreement.c.id)
        .outerjoin(project, agreement.c.project_id == project.c.id)
        .outerjoin(component, line.c.services_component_id == component.c.id)
        .outerjoin(shop, agreement.c.awarding_entity_id == shop.c.id)
        .outerjoin(fee, line.c.procurement_shop_fee_id == fee.c.id)
        .order_by(line.c.id)
    )
    if filters.portfolios:
        query = query.where(func.upper(portfolio.c.abbreviation).in_([p.strip().upper() for p in filters.portfolios]))
    if filters.fiscal_years:
        # The federal fiscal year N runs from 1 October N-1 to 30 September N.
        query = query.where(or_(*(and_(line.c.date_needed >= dt.date(year - 1, 10, 1),
                                       line.c.date_needed <= dt.date(year, 9, 30))
                                  for year in filters.fiscal_years)))
    if filters.cans:
        query = query.where(func.upper(can.c.number).in_([c.strip().upper() for c in filters.cans]))
    if filters.agreements:
        ids = [int(a) for a in filters.agreements if a.strip().isdigit()]
        names = [" ".join(a.split()).lower() for a in filters.agreements if not a.strip().isdigit()]
        query = query.where(or_(agreement.c.id.in_(ids), func.lower(agreement.c.name).in_(names)))
    if filters.statuses:
        query = query.where(line.c.status.in_([status_of(s) for s in filters.statuses]))
    if filters.line_ids is not None:
        query = query.where(line.c.id.in_(filters.line_ids))
    return query


def status_of(word: str) -> str:
    """A --status value: OPS's name (``IN_EXECUTION``) or any word the workbook uses for it."""
    if word.strip().upper() in STATUS_WORDS:
        return word.strip().upper()
    try:
        return parse_status(word)
    except RuleViolation:
        raise UsageError(f"--status {word!r} is not a status: use one of {', '.join(STATUS_WORDS)}") from None


# -- layouts ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportColumn:
    header: str
    style: int | None = None  # MONEY, DATE: the style of its number and date cells
    width: float = 14
    pii: bool = False


@dataclass(frozen=True)
class Layout:
    """A workbook layout the export writes: its sheet, its columns, and each line's cells.

    ``cells(row)`` takes a row of :func:`line_query` and gives its cells in column order, or the
    reason the import of this layout could not take the line back (text: ``no-can``...). One
    function per layout rather than one per cell: a call per cell costs seconds per 100,000 lines.
    """

    name: str
    dataset: str  # the dataset that reads the layout back
    sheet: str
    columns: tuple[ExportColumn, ...]
    cells: Callable

    def chosen(self, include_pii: bool) -> tuple[ExportColumn, ...]:
        return tuple(c for c in self.columns if include_pii or not c.pii)

    def cells_of(self, include_pii: bool) -> Callable:
        """The cells function for the chosen columns."""
        keep = [i for i, c in enumerate(self.columns) if include_pii or not c.pii]
        cells = self.cells
        if len(keep) == len(self.columns):
            return cells
        pick = (lambda out: out[:len(keep)]) if keep == list(range(len(keep))) else operator.itemgetter(*keep)

        def chosen(row):
            out = cells(row)
            return out if out.__class__ is str else pick(out)

        return chosen


def can_cell(number: str | None, description: str | None, portfolio: str | None = None) -> str | None:
    """The CAN as budget staff write it: ``G99HRF2 (HS)``.

    The description is written only when the import reads back exactly it, and the portfolio the
    import would give the CAN by it is the one OPS has (or none): otherwise the number alone, which
    the import reads as "the CAN's description as OPS has it".
    """
    if not number:
        return None
    if not description:
        return number
    cell = f"{number} ({description})"
    try:
        parsed = parse_can(cell)
    except RuleViolation:
        return number
    if parsed.number != number or parsed.description != description:
        return number
    mapped = portfolio_for(description)
    if mapped is not None and portfolio is not None and mapped != portfolio.upper():
        return number
    return cell


def _amount(value) -> Decimal | float | None:
    """numeric(12,2) as the driver gives it: a Decimal with its two places (PostgreSQL), or a
    float (SQLite; a cell holds a double either way, and the float of an amount with two places
    reads back as that amount); text is brought to a Decimal."""
    kind = value.__class__
    if value is None or kind is Decimal or kind is float or kind is int:
        return value
    return Decimal(str(value)).quantize(_CENT)


def _fee(amount, rate) -> Decimal | None:
    """The procurement shop's fee on an amount, at a rate in percent, to the cent."""
    if rate is None or amount is None:
        return None
    return (Decimal(str(amount)) * Decimal(str(rate)) / 100).quantize(_CENT)


@functools.lru_cache(maxsize=65536)
def _iso_date(text: str) -> dt.date:
    return dt.date.fromisoformat(text[:10])


def _date(value) -> dt.date | None:
    if value is None or value.__class__ is dt.date:
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return _iso_date(str(value))


@functools.lru_cache(maxsize=4096)
def _carried(agreement_name: str | None) -> bool:
    """Whether the import takes a row of this agreement (it skips one named Placeholder)."""
    return agreement_name is None or is_agreement_name(agreement_name)


def _left_out(can_number, amount, status, agreement_name) -> str | None:
    """Why the import would refuse or skip the line (it needs a CAN, an amount and a status)."""
    if not can_number:
        return "no-can"
    if amount is None:
        return "no-amount"
    if status is None:
        return "no-status"
    if not _carried(agreement_name):
        return "placeholder-agreement"
    return None


def _services_component(number, optional, sub) -> str | None:
    if number is None:
        return None
    name = f"{'O' if optional else ''}SC{number}"
    if sub:  # OPS keeps a sub-component's whole name ("SC1.1"); a bare number is read as SC<n>.<sub>
        text = str(sub).strip()
        return f"{name}.{text}" if text[:1].isdigit() else text
    return name


def classic_layout() -> Layout:
    """The budget workbook dataset's own layout (sheet ``All Budget - Cur``), headers from its columns."""
    from .datasets.registry import get_dataset

    dataset = get_dataset("budget-workbook")
    header = {c.field: c.header for c in dataset.columns}
    statuses, types = STATUS_WORDS, AGREEMENT_TYPE_WORDS
    dates: dict = {}
    carried = _carried

    def cells(row):
        (line_id, description, comments, amount, date_needed, status, can_number, can_description, portfolio,
         agreement_name, agreement_type, project_title, _sc, _optional, _sub, _shop, fee_rate) = row
        if not can_number or amount is None or status is None or not carried(agreement_name):
            return _left_out(can_number, amount, status, agreement_name)
        date = dates.get(date_needed)
        if date is None and date_needed is not None:
            date = _date(date_needed)
            if len(dates) < 65536:
                dates[date_needed] = date
        return (can_cell(can_number, can_description, portfolio), line_id, project_title, agreement_name,
                types.get(agreement_type), description, date, _amount(amount),
                None if fee_rate is None else _fee(amount, fee_rate), statuses.get(status), comments)

    return Layout("classic", dataset.name, dataset.preferred_sheets[0], (
        ExportColumn(header["can"], width=22),
        ExportColumn(header["budget_id"], width=14),
        ExportColumn(header["project_title"], width=40),
        ExportColumn(header["agreement_name"], width=40),
        ExportColumn(header["agreement_type"], width=18),
        ExportColumn(header["line_description"], width=40),
        ExportColumn(header["date_needed"], DATE, width=12),
        ExportColumn(header["amount"], MONEY, width=16),
        ExportColumn(header["proc_fee_amount"], MONEY, width=16),
        ExportColumn(header["status"], width=12),
        ExportColumn(header["comments"], width=40, pii=True),
    ), cells)


def current_layout() -> Layout:
    """The layout budget staff keep today (DOMAIN.md, "The current layout"): the line's services
    component, and its agreement's procurement shop with the fee and its rate."""
    statuses, types = STATUS_WORDS, AGREEMENT_TYPE_WORDS

    def cells(row):
        (line_id, description, comments, amount, date_needed, status, can_number, can_description, portfolio,
         agreement_name, agreement_type, project_title, sc_number, sc_optional, sc_sub, shop, fee_rate) = row
        reason = _left_out(can_number, amount, status, agreement_name)
        if reason is not None:
            return reason
        date = _date(date_needed)
        return (line_id, portfolio, project_title, agreement_name, _services_component(sc_number, sc_optional, sc_sub),
                types.get(agreement_type), description, date, fiscal_year(date) if date else None,
                can_cell(can_number, can_description, portfolio), _amount(amount), shop,
                None if fee_rate is None else _fee(amount, fee_rate),
                None if fee_rate is None else float(fee_rate),  # percent: 4.8 is 4.8 %
                statuses.get(status), comments)

    return Layout("current", "budget-workbook", "Budget Lines", (
        ExportColumn("BL ID #", width=10),
        ExportColumn("Portfolio", width=10),
        ExportColumn("Project", width=40),
        ExportColumn("Agreement", width=40),
        ExportColumn("SC", width=8),
        ExportColumn("Agreement Type", width=18),
        ExportColumn("Description", width=40),
        ExportColumn("Obligate By", DATE, width=12),
        ExportColumn("FY", width=6),
        ExportColumn("CAN", width=22),
        ExportColumn("SubTotal", MONEY, width=16),
        ExportColumn("Procurement shop", width=10),
        ExportColumn("Procurement shop fee", MONEY, width=16),
        ExportColumn("Procurement shop fee rate", width=10),
        ExportColumn("Status", width=12),
        ExportColumn("Comments", width=40, pii=True),
    ), cells)


LAYOUTS: dict[str, Callable[[], Layout]] = {"classic": classic_layout, "current": current_layout}
DEFAULT_LAYOUT = "current"


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]()
    except KeyError:
        raise UsageError(f"no layout {name!r}: use one of {', '.join(LAYOUTS)}") from None


# -- writing ---------------------------------------------------------------------------------

def export_lines(db_url: str | None, output: Path | str, *, filters: Filters = Filters(),
                 layout: str = DEFAULT_LAYOUT, include_pii: bool = False, run=None) -> dict:
    """Write OPS's budget lines (those ``filters`` select; with ``run``, those the run loaded) to
    ``output`` (.xlsx) in ``layout``, atomically and 0600.

    Returns ``{"path", "layout", "sheet", "lines", "left_out", "quoted", "replaced", "include_pii",
    "filters"}``: ``left_out`` counts by reason the lines the layout cannot carry back, ``quoted``
    the text cells written quote-prefixed because a spreadsheet would read them as formulas,
    ``replaced`` those holding characters a workbook cannot (control characters, written as ``?``).
    """
    from .db.engine import connected, resolve_url

    output = Path(output)
    if output.suffix.lower() not in (".xlsx", ".xlsm"):
        raise UsageError(f"--output must end in .xlsx, not {output.name!r}")
    chosen = get_layout(layout)
    if run is not None:
        filters = Filters(**{**filters.__dict__, "line_ids": _run_lines(run)})
    with connected(resolve_url(db_url)) as conn:
        rows = conn.execution_options(stream_results=True, yield_per=BATCH).execute(line_query(filters))
        result = write_layout(output, chosen, rows, include_pii=include_pii)
    result["filters"] = filters.as_dict()
    if run is not None:
        result["run"] = run.run_id
    return result


def _run_lines(run):
    """The ids of the budget lines ``run`` loaded (its lineage in the database)."""
    from .db.models import Lineage

    if run.status("load") != "succeeded":
        raise UsageError(f"run {run.run_id} has not been loaded: nothing of it is in OPS to export",
                         hint=f"ops-pipeline load {run.path}")
    table = Lineage.__table__
    return select(table.c.entity_id).where(table.c.run_id == run.run_id, table.c.entity == "budget_line_item")


def write_layout(output: Path, layout: Layout, rows: Iterable, *, include_pii: bool = False) -> dict:
    """Write ``rows`` (of :func:`line_query`) to ``output`` in ``layout``, through a 0600
    temporary file renamed into place."""
    columns = layout.chosen(include_pii)
    left_out: dict[str, int] = {}
    with private_output(output) as handle:
        writer = SheetWriter(handle, layout.sheet, [c.width for c in columns], [c.style for c in columns])
        writer.header([c.header for c in columns])
        cells = layout.cells_of(include_pii)
        append = writer.append
        for row in rows:
            out = cells(row)
            if out.__class__ is str:
                left_out[out] = left_out.get(out, 0) + 1
                continue
            append(out)
        writer.close(autofilter_width=len(columns))
    return {"path": str(output), "layout": layout.name, "sheet": layout.sheet, "lines": writer.rows - 1,
            "left_out": dict(sorted(left_out.items())), "quoted": writer.quoted, "replaced": writer.replaced,
            "include_pii": include_pii}


class private_output:
    """A binary file written under a 0600 temporary name in the output's folder, renamed into
    place on success and removed on failure: a reader never sees half a workbook."""

    def __init__(self, output: Path):
        self.output = Path(output)

    def __enter__(self):
        folder = self.output.parent if str(self.output.parent) else Path(".")
        if not folder.is_dir():
            raise UsageError(f"{folder} is not a folder")
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.output.name}.", suffix=".tmp", dir=folder)
        os.fchmod(fd, 0o600)
        self.handle = os.fdopen(fd, "w+b")
        return self.handle

    def __exit__(self, kind, exc, tb) -> None:
        try:
            self.handle.close()
            if kind is None:
                os.replace(self.tmp, self.output)
                os.chmod(self.output, 0o600)
                return
        except BaseException:
            self._remove()
            raise
        self._remove()

    def _remove(self) -> None:
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

