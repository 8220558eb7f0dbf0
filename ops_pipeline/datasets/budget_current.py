"""The budget workbook in budget staff's current layout (since 2025): services components and
procurement shops on every line.

Columns and rules are DOMAIN.md's "The current layout". A run of ``budget-workbook`` reads a
file in this layout when its header says so (``Dataset.layouts``); the columns both layouts share
(CAN, amounts, dates, status, comments...) are read by the classic layout's rules, under the
same field names, so that both decide a cell alike.

For the export, :data:`HEADERS` is the layout's header row and :data:`EXPORT_FORMATS` how each
column's value is written (see the names there).
"""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace
from typing import Iterator

from ..findings import ERROR, WARNING
from ..rules.budget import agreement_key
from ..rules.current import (
    fee_problem,
    parse_fee_rate,
    parse_fiscal_year,
    parse_services_component,
    services_component_display_name,
)
from ..rules.dates import fiscal_year
from .base import Column, Problem, TransformResult, row_ranges
from .budget_workbook import CELL_RULES, BudgetWorkbook, _BudgetTransform, _text
from .cells import FULL, CellRule


def _abbreviation(value: object) -> str | None:
    """A portfolio or procurement shop abbreviation: trimmed, upper case (OPS's keys)."""
    text = _text(value)
    return text.upper() if text else None


def _services_component(value: object) -> tuple | None:
    """The SC cell as staged: (number, optional, sub-component), a plain tuple (a JSON list)."""
    component = parse_services_component(value)
    return None if component is None else (component.number, component.optional, component.sub_component)


CURRENT_RULES: dict[str, CellRule] = {rule.field: rule for rule in (
    CellRule("portfolio", _abbreviation, memo=256),
    CellRule("services_component", _services_component, memo=1024),
    CellRule("fiscal_year", parse_fiscal_year, memo=256),
    CellRule("procurement_shop", _abbreviation, memo=256),
    CellRule("proc_fee_rate", parse_fee_rate, memo=1024),
    # The classic rule, with a few parses remembered: this layout's new lines say "new" (most
    # of a sheet); numbers, all different, fill the memo at once and take the shortcut after.
    replace(CELL_RULES["budget_id"], memo=16),
)}

#: The fields this layout reads beyond the classic ones, in the order the parsed row holds them.
EXTRA_FIELDS = ("portfolio", "services_component", "fiscal_year", "procurement_shop", "proc_fee_rate")

COLUMNS = (
    Column("budget_id", "BL ID #", aliases=("BL ID", "BLI ID", "BLI ID #", "BL_ID", "Budget Line ID")),
    Column("portfolio", "Portfolio"),
    Column("project_title", "Project", aliases=("Project Name",)),
    Column("agreement_name", "Agreement", aliases=("Agreement Name",)),
    Column("services_component", "SC", aliases=("Services Component", "Service Component")),
    Column("agreement_type", "Agreement Type"),
    Column("line_description", "Description", aliases=("BL Description", "Budget Line Description")),
    Column("date_needed", "Obligate By", aliases=("Obligate By Date",)),
    Column("fiscal_year", "FY", aliases=("Fiscal Year",)),
    Column("can", "CAN"),
    Column("amount", "SubTotal"),
    Column("procurement_shop", "Procurement shop", aliases=("Proc Shop", "Procurement Shop Abbr")),
    Column("proc_fee_amount", "Procurement shop fee", aliases=("Proc Shop Fee", "Procurement Shop Fee Amount")),
    Column("proc_fee_rate", "Procurement shop fee rate", aliases=("Proc Shop Fee Rate", "Procurement Shop Rate",
                                                                  "Fee Rate")),
    Column("status", "Status"),
    Column("comments", "Comments", required=False, pii=True),
)

#: The current layout's header row, in order: what an export in this layout writes.
HEADERS: tuple[str, ...] = tuple(c.header for c in COLUMNS)

#: How an export writes each column (header -> how the OPS value becomes the cell), so that the
#: workbook re-imports unchanged:
#: ``id`` the budget line id as a whole number (``new`` for a line without one); ``text`` as is;
#: ``abbreviation`` upper-case text; ``services_component`` the sub-component as OPS keeps it
#: (``SC1.1``, the whole name, as OPS's own loader stores it) when there is one, else ``SC<n>`` or
#: ``OSC<n>`` (a display name such as ``Base Period 1`` reads back too); ``agreement_type`` the words this layout reads (Contract, Grant,
#: Direct Obligation, IAA, AA); ``date`` a date cell; ``fiscal_year`` a whole number (2025);
#: ``can`` the number, then the description in parentheses; ``money`` a number with two places;
#: ``rate`` the fee rate in percent as a number (1.0 = 1 %); ``status`` OPS's status name
#: (DRAFT, PLANNED, IN_EXECUTION, OBLIGATED), which this layout reads back as such.
EXPORT_FORMATS: dict[str, str] = {
    "BL ID #": "id", "Portfolio": "abbreviation", "Project": "text", "Agreement": "text",
    "SC": "services_component", "Agreement Type": "agreement_type", "Description": "text",
    "Obligate By": "date", "FY": "fiscal_year", "CAN": "can", "SubTotal": "money",
    "Procurement shop": "abbreviation", "Procurement shop fee": "money", "Procurement shop fee rate": "rate",
    "Status": "status", "Comments": "text",
}
#: OPS agreement type -> the words an export writes (read back by parse_agreement_type).
AGREEMENT_TYPE_WORDS = {"CONTRACT": "Contract", "GRANT": "Grant", "DIRECT_OBLIGATION": "Direct Obligation",
                        "IAA": "IAA", "AA": "AA"}


def _cross_problems(parsed: dict, fiscal_years: dict) -> list[Problem]:
    """The rules between cells of a row: FY against Obligate By, the fee against SubTotal × rate."""
    problems = []
    year, date_needed = parsed["fiscal_year"], parsed["date_needed"]
    if year is not None and date_needed is not None:
        actual = fiscal_years.get(date_needed)
        if actual is None:
            actual = fiscal_years[date_needed] = fiscal_year(dt.date.fromisoformat(date_needed))
        if actual != year:
            problems.append(Problem("fiscal-year-mismatch",
                                    f"FY {year}, but Obligate By {date_needed} is in fiscal year {actual}",
                                    "fiscal_year", year))
    fee = parsed["proc_fee_amount"]
    if fee is not None:
        problem = fee_problem(parsed["amount"], fee, parsed["proc_fee_rate"], parsed["procurement_shop"])
        if problem is not None:
            problems.append(Problem(problem[0], problem[1], "proc_fee_amount", fee))
    if parsed["services_component"] is not None and not parsed["agreement_name"]:
        problems.append(Problem("missing-value", "SC is given but Agreement is empty", "agreement_name"))
    return problems


class CurrentBudgetWorkbook(BudgetWorkbook):
    name = "budget-workbook-current"
    title = "OPS budget spreadsheet (current layout)"
    layout = "current"
    layouts = ("budget-workbook",)
    #: the export's sheet for this layout first (any sheet with the header is read)
    preferred_sheets = ("Budget Lines", "All Budget - Cur")
    entity_order = ("project", "can", "agreement", "services_component", "budget_line_item")
    finding_codes = {
        **BudgetWorkbook.finding_codes,
        "bad-services-component": (ERROR, "SC is not SC1, SC 2, OSC3, SC1.1, Base Period 1 or Optional Period 2"),
        "bad-fiscal-year": (WARNING, "FY is not a fiscal year (2025, FY25)"),
        "fiscal-year-mismatch": (WARNING, "Obligate By falls in another fiscal year than FY says"),
        "bad-fee-rate": (ERROR, "the procurement shop fee rate is not a percentage between 0 and 100"),
        "fee-mismatch": (WARNING, "the procurement shop fee is not SubTotal × rate ÷ 100 to the cent"),
        "fee-without-rate-or-shop": (WARNING, "a procurement shop fee without a rate or a procurement shop"),
        "unknown-budget-id": (ERROR, "BL ID # is a number OPS has no budget line for"),
        "unknown-procurement-shop": (ERROR, "the procurement shop is not one OPS has"),
        "portfolio-mismatch": (WARNING, "Portfolio disagrees with the portfolio OPS has for the line's CAN"),
    }
    columns = COLUMNS

    def __init__(self) -> None:
        super().__init__()
        self.rules.update(CURRENT_RULES)
        self._fiscal_years: dict = {}

    # -- validation ---------------------------------------------------------------------------
    def check_row(self, values: dict, state: dict) -> tuple[dict, list[Problem]]:
        parsed, problems = super().check_row(values, state)
        get = values.get
        readers = self._readers(state.get("date1904", False), sys.maxsize)
        cell = self._cell
        for name in EXTRA_FIELDS:
            parsed[name] = cell(name, get(name), readers, problems)
        # A cell its own rule refused is None here: the rules between cells do not judge it again.
        problems.extend(_cross_problems(parsed, self._fiscal_years))
        return parsed, problems

    def quick_check(self, table, state: dict, max_chars: int):
        """The classic fast path, with this layout's cells read by the same readers check_row
        uses; a row breaking a rule between cells goes to the full path."""
        base = super().quick_check(table, state, max_chars)
        positions = table.positions
        width = max(positions.values()) + 2
        at = [positions.get(name, width - 1) for name in EXTRA_FIELDS]
        pad = (None,) * width
        readers = self._readers(state.get("date1904", False), max_chars)
        (i_portfolio, i_sc, i_fy, i_shop, i_rate) = at
        (read_portfolio, read_sc, read_fy, read_shop, read_rate) = (readers[name][0] for name in EXTRA_FIELDS)
        (empty_portfolio, empty_sc, empty_fy, empty_shop, empty_rate) = (readers[name][0].empty
                                                                         for name in EXTRA_FIELDS)
        seen = state.setdefault("seen", {})
        fiscal_years = self._fiscal_years
        full = FULL
        #: the five cells as read (with their classes: 1, 1.0 and True are equal keys) -> what the
        #: readers make of them, or False when one needs the full path; most rows repeat a few
        extras: dict = {}

        def read_extras(key: tuple):
            values = []
            for raw, read, empty in ((key[0], read_portfolio, empty_portfolio), (key[2], read_sc, empty_sc),
                                     (key[4], read_fy, empty_fy), (key[6], read_shop, empty_shop),
                                     (key[8], read_rate, empty_rate)):
                value = empty if raw is None else read(raw)
                if value is full:
                    return False
                values.append(value)
            return tuple(values)

        def quick(values: tuple, row_number: int) -> dict | None:
            if len(values) < width:
                values = values + pad[len(values):]
            a, b, c, d, e = values[i_portfolio], values[i_sc], values[i_fy], values[i_shop], values[i_rate]
            key = (a, a.__class__, b, b.__class__, c, c.__class__, d, d.__class__, e, e.__class__)
            read = extras.get(key)
            if read is None:
                read = read_extras(key)
                if len(extras) < 65536:
                    extras[key] = read
            if read is False:
                return None
            portfolio, component, year, shop, rate = read
            parsed = base(values, row_number)
            if parsed is None:
                return None
            # check_row's keys in check_row's order
            parsed["portfolio"] = portfolio
            parsed["services_component"] = component
            parsed["fiscal_year"] = year
            parsed["procurement_shop"] = shop
            parsed["proc_fee_rate"] = rate
            # The rules between cells, decided here for the usual row (FY as Obligate By's year
            # seen before, a fee that is right, an SC with its agreement); any other goes through
            # _cross_problems, which judges it (and learns a new date's fiscal year).
            suspect = False
            if year is not None:
                date_needed = parsed["date_needed"]
                suspect = date_needed is not None and fiscal_years.get(date_needed) != year
            fee = parsed["proc_fee_amount"]
            if fee is not None and not suspect:
                suspect = fee_problem(parsed["amount"], fee, rate, shop) is not None
            if component is not None and not suspect:
                suspect = not parsed["agreement_name"]
            if suspect and _cross_problems(parsed, fiscal_years):
                budget_id = parsed["budget_id"]
                if budget_id is not None and seen.get(("budget_id", budget_id)) == row_number:
                    del seen[("budget_id", budget_id)]  # the full path records it again
                return None
            return parsed

        quick.checks_control_characters = True
        return quick

    # -- transform ----------------------------------------------------------------------------
    def transform(self, rows: Iterator[dict], context: dict) -> TransformResult:
        return _CurrentTransform(rows, context).result()

    # -- load ---------------------------------------------------------------------------------
    def entities(self) -> tuple:
        return current_entities()


def _sc_display_name(agreement: dict | None, own: dict, kind) -> str:
    severable = bool(agreement) and agreement["agreement_type"] == "CONTRACT" \
        and agreement["service_requirement_type"] == "SEVERABLE"
    return services_component_display_name(own["number"], bool(own["optional"]), severable)


def _line_sc_name(component: dict | None, own: dict, kind) -> str | None:
    # OPS copies the component's display name onto contract lines only.
    return component["display_name_for_sort"] if component and kind == "CONTRACT" else None


def current_entities() -> tuple:
    from dataclasses import replace

    from ..db import ops_models as m
    from ..db.entities import Agree, Ask, Derived, EntitySpec, Key, Link
    from .budget_workbook import budget_entities

    portfolio, project, can, agreement, line = budget_entities()
    # OPS's abbreviations are upper case, as the cells are read (a folded key would name the shop
    # in lower case in the finding).
    shop = EntitySpec("procurement_shop", m.ProcurementShop, Key(("abbr",)), insert=False,
                      label="procurement shop")
    agreement = replace(
        agreement,
        # A new agreement takes its lines' shop; a stored one is never changed (update "never"):
        # a shop that differs is a question. An unknown shop is the lines' error, not the agreement's.
        links=agreement.links + (Link("procurement_shop", "procurement_shop", "awarding_entity_id",
                                      missing="ignore"),),
        ask=(Ask("procurement_shop", "agreement-procurement-shop", "procurement shop"),),
    )
    component = EntitySpec(
        "services_component", m.ServicesComponent,
        Key(("agreement_id", "number", "optional", "sub_component"), nullable=("sub_component",),
            via={"agreement_id": "agreement"}),
        fields=("number", "optional", "sub_component", "description", "display_name_for_sort"),
        links=(Link("agreement", "agreement", "agreement_id", field="services_component", code="not-created",
                    explain="its agreement is not in OPS", create_requires=True, missing="ignore"),),
        derived=(Derived("display_name_for_sort", "agreement", ("agreement_type", "service_requirement_type"),
                         _sc_display_name, uses=("number", "optional")),),
        label="services component",
    )
    line = replace(
        line,
        key=replace(line.key, unknown_id="reject", unknown_id_code="unknown-budget-id", id_field="budget_id"),
        fields=line.fields + ("service_component_name_for_sort",),
        links=line.links + (
            Link("services_component", "services_component", "services_component_id", field="services_component",
                 missing="ignore"),
            Link("procurement_shop", "procurement_shop", None, field="procurement_shop",
                 code="unknown-procurement-shop", missing="reject",
                 explain="a line names a shop by the abbreviation OPS has for it"),
        ),
        derived=(Derived("service_component_name_for_sort", "services_component", ("display_name_for_sort",),
                         _line_sc_name),),
        agree=(Agree("portfolio", "can", "portfolio_id", "portfolio", "abbreviation", "portfolio-mismatch"),),
        not_loaded={
            **line.not_loaded,
            "proc_shop_fee_rate": "OPS keeps no fee rate on a line (it takes the procurement shop's); the rate is "
                                  "checked against the fee",
            "fiscal_year": "OPS works the fiscal year out from Obligate By; the FY column is checked against it",
            "portfolio": "OPS keeps the portfolio on the CAN; the Portfolio column is checked against it",
        },
    )
    return portfolio, shop, project, can, agreement, component, line


class _CurrentTransform(_BudgetTransform):
    """The classic transform, plus each line's services component and procurement shop."""

    def __init__(self, rows: Iterator[dict], context: dict):
        super().__init__(rows, context)
        self.components: dict[tuple, dict] = {}
        self._shops_seen: set = set()
        self._extended: dict[tuple, dict] = {}
        #: (id of the row's links, SC, shop) -> (the line's links, its component's rows or None)
        self._settled: dict[tuple, tuple] = {}
        self._keep: list = []
        self.counts["services_component"] = 0

    def _extend_line(self, line: dict, links: dict, values: dict, row: int) -> dict:
        """A line's services component, procurement shop, Portfolio and fee rate (called by the
        classic transform for each line). Lines with the same links share one links object, as
        the classic layout's do: most rows repeat a few combinations, and a combination met
        before without a question is settled by one lookup."""
        get = values.get
        line["portfolio"] = get("portfolio")
        line["proc_shop_fee_rate"] = get("proc_fee_rate")
        shop = get("procurement_shop")
        sc = get("services_component")
        if sc is not None:
            sc = tuple(sc)  # staged as a JSON list
        settled = self._settled.get((id(links), sc, shop))
        if settled is not None:
            extended, rows = settled
            if rows is not None:
                rows.append(row)
            return extended
        agreement = links.get("agreement")
        component = self._component(agreement, sc, row) if agreement and sc else None
        asked = self._asked
        if agreement and shop:
            self._shop(values, shop, row)
        key = (id(links), id(component), shop)
        extended = self._extended.get(key)
        if extended is None:
            extended = self._extended[key] = {**links, "services_component": component,
                                              "procurement_shop": {"abbr": shop} if shop else None}
            self._keep.append((links, component))  # the ids in the keys stay those objects'
        if self._asked == asked:  # no question: the next such row is the same
            rows = self.components[self._component_key(agreement, sc)]["rows"] if component is not None else None
            self._settled[(id(links), sc, shop)] = (extended, rows)
        return extended

    @staticmethod
    def _component_key(agreement: dict, sc: tuple) -> tuple:
        number, optional, sub = sc
        return (id(agreement), number, optional, sub)

    def _component(self, agreement: dict, sc: dict, row: int) -> dict:
        # An agreement's link is one object for all its rows (see _BudgetTransform._agreement_row).
        number, optional, sub = sc
        key = self._component_key(agreement, sc)
        component = self.components.get(key)
        if component is None:
            label = sub or f"{'O' if optional else ''}SC{number}"
            component = self.components[key] = {
                "agreement": agreement, "number": number, "optional": optional,
                "sub_component": sub, "description": label, "rows": [],
                "link": {"agreement": agreement, "number": number, "optional": optional, "sub_component": sub},
            }
        component["rows"].append(row)
        return component["link"]

    def _shop(self, values: dict, shop: str, row: int) -> None:
        raw = values.get("agreement_name")
        seen = (raw, values["agreement_type"], shop)
        if seen in self._shops_seen:  # the agreement's first shop already, most rows
            return
        agreement = self.agreements.get(agreement_key(" ".join(raw.split()), values["agreement_type"]))
        if agreement is None:
            return
        first = agreement.setdefault("shop", shop)
        if first == shop:
            self._shops_seen.add(seen)
        else:
            self._question("agreement-shop-conflict",
                           f"agreement {agreement['name']!r} has lines with procurement shops {first} and {shop}; "
                           f"a new agreement takes {first}", row)

    def _entities(self) -> Iterator[dict]:
        for record in super()._entities():
            if record["entity"] == "agreement":
                agreement = self.agreements[agreement_key(record["values"]["name"],
                                                          record["values"]["agreement_type"])]
                shop = agreement.get("shop")
                record["links"]["procurement_shop"] = {"abbr": shop} if shop else None
            yield record
        for component in self.components.values():
            self.counts["services_component"] += 1
            yield {
                "entity": "services_component",
                "key": component["link"],
                "values": {"number": component["number"], "optional": component["optional"],
                           "sub_component": component["sub_component"], "description": component["description"]},
                "links": {"agreement": component["agreement"]},
                "lineage": {"file": self.file, "sheet": self.sheet, "rows": row_ranges(component["rows"])},
            }
