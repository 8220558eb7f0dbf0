"""The budget workbook: one row per budget line, kept by budget staff in Excel.

Columns and rules are those of DOMAIN.md; the business rules that turn rows into projects, CANs,
agreements and budget lines live in ``ops_pipeline.rules`` and are pinned by ``features/``.
"""
from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from typing import Iterator

from ..findings import ERROR, WARNING
from ..db import ops_models as ops
from ..readers.workbook import CellError
from ..rules import RuleViolation
from ..rules.budget import (
    agreement_key,
    is_agreement_name,
    is_placeholder_row,
    is_project_title,
    title_key,
)
from ..rules.can import PLACEHOLDER_CAN, parse_can
from ..rules.codes import parse_agreement_type, parse_budget_id, parse_status
from ..rules.dates import fiscal_year, parse_date
from ..rules.money import parse_amount, plain_amount_text
from ..rules.portfolios import portfolio_for
from ..rules.text import control_character
from .base import Column, Dataset, Problem, TransformResult, row_ranges
from .cells import FULL, CellRule, parser, reader, too_long

_CHANGE_LOG = (
    "EFFECTIVE_DATE", "REQUESTED_BY", "HOW_REQUESTED", "CHANGE_REASONS", "WHO_UPDATED",
    "FISCAL_YEAR", "NEW_VS_CONTINUING", "APPLIED_RESEARCH_VS_EVALUATIVE", "PROC_SHOP",
)


def _plain_amount(raw: object) -> object:
    """A number cell that is plainly an amount, as text with two places (what _amount gives);
    FULL for any other cell."""
    cls = raw.__class__
    if cls is float:
        if -1e10 < raw < 1e10:
            text = "%.2f" % raw
            if float(text) == raw:  # exactly two places: what Excel shows is what is stored
                return "0.00" if text == "-0.00" else text
    elif cls is int:
        if -10**10 < raw < 10**10:
            return f"{raw}.00"
    return FULL


def _amount(raw: object) -> str:
    """An amount as text with two places; the usual text (``$ 1,234.56``) without Decimal."""
    if raw.__class__ is str:
        text = plain_amount_text(raw)
        if text is not None:
            return text
    return str(parse_amount(raw))


def _plain_budget_id(raw: object) -> object:
    return raw if raw.__class__ is int and 0 < raw < 2**31 else FULL


def _date(raw: object, date1904: bool = False) -> str:
    return parse_date(raw, date1904).isoformat()


def _plain_date(raw: object) -> object:
    return raw.isoformat() if raw.__class__ is dt.date else FULL


def _text(value: object) -> str | None:
    if value.__class__ is str:
        return value.strip() or None
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, (dt.date, dt.datetime, dt.time)):
        text = value.isoformat()
    elif isinstance(value, bool):
        raise RuleViolation("bad-text", "a true/false cell where text was expected")
    else:
        text = str(value)
    return text or None


_BLI = ops.BudgetLineItem.__table__.c

#: The rule of each loaded column, the one both validation paths read cells with (see cells.py).
#: Text limits are the declared lengths of the OPS columns the values land in. OPS declares
#: most of them unbounded (``character varying`` without a length, ``text``): no database limit
#: applies there, and the only bound is the reader's sanity cap on any cell (``max_chars``,
#: OPS_PIPELINE_MAX_CELL_CHARS), which RowJudge enforces and quick_check is given.
CELL_RULES: dict[str, CellRule] = {rule.field: rule for rule in (
    CellRule("can", parse_can, required=True, memo=4096,
             lands_in=(("can_number", ops.CAN.__table__.c.number),
                       ("can_description", ops.CAN.__table__.c.description))),
    CellRule("budget_id", parse_budget_id, shortcut=_plain_budget_id),
    CellRule("project_title", _text, lands_in=(("project_title", ops.Project.__table__.c.title),)),
    CellRule("agreement_name", _text, lands_in=(("agreement_name", ops.Agreement.__table__.c.name),)),
    CellRule("agreement_type", parse_agreement_type, memo=256),
    CellRule("line_description", _text, lands_in=(("line_description", _BLI.line_description),)),
    CellRule("date_needed", _date, shortcut=_plain_date, memo=65536, date_system=True),
    CellRule("amount", _amount, shortcut=_plain_amount, required=True),
    CellRule("proc_fee_amount", _amount, shortcut=_plain_amount),
    CellRule("status", parse_status, required=True, memo=256),
    CellRule("comments", _text, lands_in=(("comments", _BLI.comments),)),
)}


class BudgetWorkbook(Dataset):
    name = "budget-workbook"
    title = "OPS budget spreadsheet"
    finding_codes = {
        "bad-can": (ERROR, "not a CAN number with an optional (description)"),
        "placeholder-can": (WARNING, "the placeholder CAN A000000"),
        "bad-budget-id": (ERROR, "Sys_Budget_ID is not a number, 'new' or blank"),
        "duplicate-budget-id": (ERROR, "the same Sys_Budget_ID on two rows"),
        "unknown-agreement-type": (ERROR, "CIG Type is not one of the known agreement types"),
        "unknown-status": (ERROR, "Status is not one of the known statuses"),
    }
    preferred_sheets = ("All Budget - Cur",)
    entity_order = ("project", "can", "agreement", "budget_line_item")
    writes_back = ("budget_line_item", "budget_id")
    layout = "classic"
    #: budget staff's current layout (datasets/budget_current.py), recognised by its header
    layouts = ("budget-workbook-current",)
    money = ("amount", "status", "date_needed")
    columns = (
        Column("can", "CAN"),
        Column("budget_id", "Sys_Budget_ID", required=False),
        Column("project_title", "Project Title"),
        Column("agreement_name", "CIG Name"),
        Column("agreement_type", "CIG Type"),
        Column("line_description", "Line Desc", aliases=("Line Description",)),
        Column("date_needed", "Date Needed"),
        Column("amount", "Amount"),
        Column("proc_fee_amount", "PSCFee Amount", aliases=("PROC_FEE_AMOUNT", "PSC Fee Amount"), required=False),
        Column("status", "Status"),
        Column("comments", "Comments", required=False, pii=True),
        Column("total_bud_cur", "Total Bud Cur", required=False, ignored=True),
        Column("all_bud_prev", "All Bud Prev", required=False, ignored=True),
        Column("delta", "Delta", required=False, ignored=True),
        *(Column(name.lower(), name, required=False, ignored=True) for name in _CHANGE_LOG),
    )

    # -- validation ---------------------------------------------------------------------------
    def __init__(self) -> None:
        self._loaded_fields = {c.field for c in self.columns if not c.ignored}
        #: the column rules this instance reads cells with (both paths)
        self.rules = dict(CELL_RULES)
        # Successful parses of repeated cells (CANs, statuses, types, dates), by each reader.
        self._memos: dict = defaultdict(dict)
        self._readers_cache: dict = {}
        self._agreement_memo: dict = {}

    def _readers(self, date1904: bool, max_chars: int) -> dict:
        """field → (reader, full parser) by this instance's rules, for one date system."""
        key = (date1904, max_chars)
        readers = self._readers_cache.get(key)
        if readers is None:
            readers = self._readers_cache[key] = {
                field: (reader(rule, memo=self._memos[field, date1904 if rule.date_system else None, max_chars],
                               max_chars=max_chars, date1904=date1904),
                        parser(rule, date1904))
                for field, rule in self.rules.items()
            }
        return readers

    def skip_reason(self, values: dict) -> str | None:
        if self._holds_can(values.get("can")):
            # A row with a CAN is a budget line (whatever its other cells say) unless its CIG
            # Name says Placeholder: never a totals row or a note.
            name = values.get("agreement_name")
            if name.__class__ is str and not self._is_agreement(name) and is_placeholder_row(name):
                return f"placeholder row ({self._header('agreement_name')} is Placeholder)"
            return None
        loaded = self._loaded_fields
        used = [v for k, v in values.items() if v is not None and k in loaded]
        if not used:
            return "blank row"
        first = next((v for v in values.values() if v is not None), None)
        if isinstance(first, str) and first.strip().casefold().startswith(("total", "grand total")):
            return "totals row"
        if is_placeholder_row(_text_or_none(values.get("agreement_name"))):
            return f"placeholder row ({self._header('agreement_name')} is Placeholder)"
        if len(used) == 1 and isinstance(used[0], str) and values.get("can") == used[0] and len(used[0]) > 20:
            # A sentence in the first column below or above the table: a note, not a budget line.
            return "note row"
        return None

    def _header(self, field_name: str) -> str:
        return self.column(field_name).header

    def _holds_can(self, raw: object) -> bool:
        """Whether the cell holds a well-formed CAN, by the CAN rule's parser (whatever else the
        cell holds: a control character is the cell's finding, not a reason to skip the row)."""
        if raw.__class__ is not str:
            return False
        memo = self._memos["holds-can"]
        if raw in memo:
            return True
        try:
            can = self.rules["can"].parse(raw)
        except RuleViolation:
            return False
        if len(memo) < self.rules["can"].memo:
            memo[raw] = can
        return True

    def _is_agreement(self, name: str | None) -> bool:
        if name is None:
            return False
        known = self._agreement_memo.get(name)
        if known is None:
            known = is_agreement_name(name)
            if len(self._agreement_memo) < 65536:
                self._agreement_memo[name] = known
        return known

    def check_row(self, values: dict, state: dict) -> tuple[dict, list[Problem]]:
        # Each cell is read by its column's rule (cells.reader: the common cells without the
        # parser); a cell the reader leaves to the full parser is parsed here, with its finding.
        problems: list[Problem] = []
        get = values.get
        readers = self._readers(state.get("date1904", False), sys.maxsize)
        cell = self._cell

        raw = get("can")
        can = cell("can", raw, readers, problems)
        if can is not None and can.number == PLACEHOLDER_CAN:
            problems.append(Problem("placeholder-can", "the placeholder CAN A000000", "can", raw))

        raw = get("budget_id")
        budget_id = cell("budget_id", raw, readers, problems)
        if budget_id is not None:
            seen = state.setdefault("seen", {})
            key = ("budget_id", budget_id)
            if key in seen:
                problems.append(Problem(
                    "duplicate-budget-id", f"budget id {budget_id} is also on row {seen[key]}",
                    "budget_id", raw,
                ))
            else:
                seen[key] = state.get("row")

        project_title = cell("project_title", get("project_title"), readers, problems)
        agreement_name = cell("agreement_name", get("agreement_name"), readers, problems)
        line_description = cell("line_description", get("line_description"), readers, problems)
        comments = cell("comments", get("comments"), readers, problems)

        raw = get("agreement_type")
        agreement_type = cell("agreement_type", raw, readers, problems)
        is_agreement = self._is_agreement(agreement_name)
        if agreement_type is None and raw is None and is_agreement:
            problems.append(Problem("missing-value", f"{self._header('agreement_type')} is empty but "
                                    f"{self._header('agreement_name')} is given", "agreement_type"))
        if agreement_type and not is_agreement:
            problems.append(Problem("missing-value", f"{self._header('agreement_name')} is empty but "
                                    f"{self._header('agreement_type')} is given", "agreement_name"))

        date_needed = cell("date_needed", get("date_needed"), readers, problems)
        amount = cell("amount", get("amount"), readers, problems)
        fee = cell("proc_fee_amount", get("proc_fee_amount"), readers, problems)
        status = cell("status", get("status"), readers, problems)

        return {
            "can_number": can.number if can else None,
            "can_description": can.description if can else None,
            "budget_id": budget_id,
            "project_title": project_title,
            "agreement_name": agreement_name,
            "agreement_type": agreement_type,
            "line_description": line_description,
            "comments": comments,
            "date_needed": date_needed,
            "amount": amount,
            "proc_fee_amount": fee,
            "status": status,
        }, problems

    def _cell(self, field_name: str, raw: object, readers: dict, problems: list) -> object:
        """One cell by its column's rule: the reader's value, else the full parser's, with the
        finding of what the parser refuses, or of a value longer than its OPS column."""
        read, parse = readers[field_name]
        value = read(raw)
        if value is not FULL:
            return value
        rule = self.rules[field_name]
        if raw is None:
            if rule.required:
                problems.append(Problem("missing-value", f"{self.column(field_name).header} is empty", field_name))
            return None
        if raw.__class__ is CellError:
            problems.append(Problem("cell-error", f"the cell holds the error {raw}", field_name, raw))
            return None
        try:
            value = parse(raw)
        except RuleViolation as violation:
            problems.append(Problem(violation.code, violation.message, field_name, raw))
            return None
        over = too_long(rule, value)
        if over is not None:
            _, length, limit = over
            problems.append(Problem("too-long", f"{length} characters, more than the {limit} OPS stores",
                                    field_name, raw))
        return value

    def quick_check(self, table, state: dict, max_chars: int):
        """The fast path for a plain valid row (most of a real file): see Dataset.quick_check.

        The text columns that repeat from row to row (CAN, Project Title, CIG Name, CIG Type,
        Status) are judged once per combination, by skip_reason and check_row themselves; the
        cells that vary (budget id, descriptions, date, amounts) are read by the same column
        readers check_row uses. Any cell a reader leaves to the full parser sends the row to the
        full path.
        """
        positions = table.positions
        fields = ("can", "project_title", "agreement_name", "agreement_type", "status",
                  "budget_id", "line_description", "comments", "date_needed", "amount", "proc_fee_amount")
        width = max(positions[name] for name in fields if name in positions) + 2
        # A missing optional column reads as the empty cell past the end of the padded row.
        (i_can, i_title, i_name, i_type, i_status, i_id, i_desc, i_comments, i_date, i_amount,
         i_fee) = (positions.get(name, width - 1) for name in fields)
        pad = (None,) * width
        combos: dict = {}
        seen = state.setdefault("seen", {})
        readers = self._readers(state.get("date1904", False), max_chars)
        read_id, read_desc, read_comments, read_date, read_amount, read_fee = (
            readers[name][0] for name in fields[5:])
        empty_id, empty_desc, empty_comments, empty_date, empty_amount, empty_fee = (
            readers[name][0].empty for name in fields[5:])
        full = FULL
        combo_of = self._combo

        def quick(values: tuple, row_number: int) -> dict | None:
            if len(values) < width:
                values = values + pad[len(values):]
            key = (values[i_can], values[i_title], values[i_name], values[i_type], values[i_status])
            combo = combos.get(key)
            if combo is None:
                combo = combo_of(key, max_chars)
                if len(combos) < 65536:
                    combos[key] = combo
            if combo is False:
                return None
            # An empty cell (many are) takes its rule's value for one without a call to the reader.
            raw = values[i_id]
            budget_id = empty_id if raw is None else read_id(raw)
            if budget_id is full:
                return None
            if budget_id is not None and ("budget_id", budget_id) in seen:
                return None
            raw = values[i_desc]
            line_description = empty_desc if raw is None else read_desc(raw)
            if line_description is full:
                return None
            raw = values[i_comments]
            comments = empty_comments if raw is None else read_comments(raw)
            if comments is full:
                return None
            raw = values[i_date]
            date_needed = empty_date if raw is None else read_date(raw)
            if date_needed is full:
                return None
            raw = values[i_amount]
            amount = empty_amount if raw is None else read_amount(raw)
            if amount is full:
                return None
            raw = values[i_fee]
            fee = empty_fee if raw is None else read_fee(raw)
            if fee is full:
                return None

            if budget_id is not None:
                seen[("budget_id", budget_id)] = row_number
            can_number, can_description, project_title, agreement_name, agreement_type, status = combo
            return {  # check_row's keys in check_row's order: the staged lines are the same bytes
                "can_number": can_number,
                "can_description": can_description,
                "budget_id": budget_id,
                "project_title": project_title,
                "agreement_name": agreement_name,
                "agreement_type": agreement_type,
                "line_description": line_description,
                "comments": comments,
                "date_needed": date_needed,
                "amount": amount,
                "proc_fee_amount": fee,
                "status": status,
            }

        quick.checks_control_characters = True  # see RowJudge: the readers leave such cells to the full path
        return quick

    def _combo(self, key: tuple, max_chars: int):
        """The parsed repeating cells of a row, or False when they need the full path.

        Judged by skip_reason and check_row on a row holding only these cells (and an amount):
        none of the rules that involve them looks at another cell.
        """
        can, title, name, agreement_type, status = key
        if can is None or not all(v is None or (v.__class__ is str and len(v) <= max_chars) for v in key):
            return False
        if any(v is not None and control_character(v) is not None for v in key):
            return False
        values = {"can": can, "project_title": title, "agreement_name": name,
                  "agreement_type": agreement_type, "status": status, "amount": 0}
        if self.skip_reason(values) is not None:
            return False
        parsed, problems = self.check_row(values, {"seen": {}})
        if problems:
            return False
        return tuple(parsed[f] for f in ("can_number", "can_description", "project_title", "agreement_name",
                                         "agreement_type", "status"))

    def row_keys(self, parsed: dict) -> tuple:
        budget_id = parsed.get("budget_id")
        return (("budget_id", budget_id),) if budget_id is not None else ()

    # -- transform ----------------------------------------------------------------------------
    def transform(self, rows: Iterator[dict], context: dict) -> TransformResult:
        return _BudgetTransform(rows, context).result()

    # -- load ---------------------------------------------------------------------------------
    def entities(self) -> tuple:
        """What this dataset loads into OPS, and how (see ops_pipeline.db.entities)."""
        return budget_entities()


#: OPS's ORM defaults for the NOT NULL columns (and the defaulted flags) of a new budget line.
_LINE_DEFAULTS = {"on_hold": False, "certified": False, "closed": False, "is_under_current_resolution": False,
                  "doc_received": False, "is_obe": False}


def budget_entities() -> tuple:
    from ..db import ops_models as m
    from ..db.entities import EntitySpec, Key, Link, Subtype

    portfolio = EntitySpec("portfolio", m.Portfolio, Key(("abbreviation",), folded=("abbreviation",)),
                           insert=False)
    project = EntitySpec(
        "project", m.Project, Key(("title",), folded=("title",)), fields=("title",),
        subtype=Subtype("project_type", {"RESEARCH": m.ResearchProject,
                                         "ADMINISTRATIVE_AND_SUPPORT": m.AdministrativeAndSupportProject},
                        value="project_type", default="RESEARCH"),
        defaults={"description": ""},
    )
    can = EntitySpec(
        "can", m.CAN, Key(("number",)), fields=("number", "description"), label="CAN",
        links=(Link("portfolio", "portfolio", "portfolio_id", field="can", code="can-without-portfolio",
                    explain="OPS needs a portfolio for every CAN, and the CAN's description names none "
                            "OPS has; its lines load without a CAN", create_requires=True),),
        update="given",
    )
    agreement = EntitySpec(
        "agreement", m.Agreement, Key(("name", "agreement_type"), folded=("name",)),
        fields=("name", "agreement_type"),
        links=(Link("project", "project", "project_id", field="project_title"),),
        subtype=Subtype(
            "agreement_type",
            {"CONTRACT": m.ContractAgreement, "GRANT": m.GrantAgreement, "IAA": m.IaaAgreement,
             "DIRECT_OBLIGATION": m.DirectAgreement, "AA": m.AaAgreement},
            value="agreement_type",
            defaults={"CONTRACT": {"delivered_status": False}, "IAA": {"direction": "OUTGOING"}},
            refuse={"AA": "OPS needs an AA agreement's requesting and servicing agencies, which the workbook "
                          "does not give; create the agreement in OPS first"},
        ),
        defaults={"notes": ""},
    )
    line = EntitySpec(
        "budget_line_item", m.BudgetLineItem,
        Key(by_id="id", signature=("can_id", "agreement_id", "line_description", "date_needed", "amount")),
        fields=("line_description", "comments", "amount", "date_needed", "status"),
        links=(Link("can", "can", "can_id", field="can"),
               Link("agreement", "agreement", "agreement_id", field="agreement_name")),
        subtype=Subtype(
            "budget_line_item_type",
            {"CONTRACT": m.ContractBudgetLineItem, "GRANT": m.GrantBudgetLineItem, "IAA": m.IAABudgetLineItem,
             "DIRECT_OBLIGATION": m.DirectObligationBudgetLineItem, "AA": m.AABudgetLineItem},
            from_link=("agreement", "agreement_type"), default="CONTRACT",
        ),
        defaults=_LINE_DEFAULTS,
        update="all",
        label="budget line",
        not_loaded={
            "proc_shop_fee_amount": "OPS keeps no fee amount on a line: it works fees out from the "
                                    "procurement shop's rate",
            "fiscal_year": "OPS works the fiscal year out from the date needed",
        },
    )
    return portfolio, project, can, agreement, line


def _text_or_none(value: object) -> str | None:
    return value.strip() if isinstance(value, str) else None


class _BudgetTransform:
    """Applies the business rules to the valid rows, in one streaming pass."""

    #: (line values, the row's links, the valid row's values, row number) -> the line's links: a
    #: layout's own additions to each line, in the same pass (None: nothing to add)
    _extend_line = None

    def __init__(self, rows: Iterator[dict], context: dict):
        self.rows = rows
        self.sheet = context.get("sheet")
        self.file = context.get("file_sha256")
        self.projects: dict[str, dict] = {}
        self.cans: dict[str, dict] = {}
        self.agreements: dict[tuple, dict] = {}
        self.questions: list[dict] = []
        self.opre_rows: list[int] = []
        self.project_portfolios: dict[str, set] = defaultdict(set)
        self.counts = {"budget_line_item": 0}
        self._title_keys: dict = {}
        self._agreement_keys: dict = {}
        self._asked = 0  # questions raised, also past the 200 kept
        columns = context.get("columns")
        #: A sheet without the optional Comments column says nothing about comments (an export
        #: written without PII has none): the lines leave them out, and the load keeps OPS's.
        self.without = ("comments",) if columns is not None and "comments" not in columns else ()

    def result(self) -> TransformResult:
        return TransformResult(entities=self._entities(), summary=self._summary)

    def _entities(self) -> Iterator[dict]:
        # Budget lines stream out first (the caller files each kind separately); the entities they
        # refer to are complete once every row has been seen.
        yield from self._lines()
        for project in self.projects.values():
            yield {
                "entity": "project",
                "key": {"title": project["title"]},
                # No project type: a new project is a research project (the spec's default), and
                # one OPS has keeps its own type (administrative and support projects included:
                # the workbook says nothing about it, so it must not try to change it).
                "values": {"title": project["title"]},
                "links": {},
                "lineage": {"file": self.file, "sheet": self.sheet, "rows": row_ranges(project["rows"])},
            }
        for can in self.cans.values():
            yield {
                "entity": "can",
                "key": {"number": can["number"]},
                "values": {"number": can["number"], "description": can["description"]},
                "links": {"portfolio": {"abbreviation": can["portfolio"]} if can["portfolio"] else None},
                "lineage": {"file": self.file, "sheet": self.sheet, "rows": row_ranges(can["rows"])},
            }
        for agreement in self.agreements.values():
            project = agreement["project"]
            yield {
                "entity": "agreement",
                "key": {"name": agreement["name"], "agreement_type": agreement["agreement_type"]},
                "values": {"name": agreement["name"], "agreement_type": agreement["agreement_type"]},
                "links": {"project": {"title": project} if project else None},
                "lineage": {"file": self.file, "sheet": self.sheet, "rows": row_ranges(agreement["rows"])},
            }

    def _lines(self) -> Iterator[dict]:
        """One budget line per row. The project, CAN and agreement of a row are related to it by
        _relate(); a row repeating the project, CAN and agreement cells of an earlier row that
        raised no question relates to the same ones, which is most rows and is done inline."""
        related: dict[tuple, tuple] = {}
        fiscal_years: dict[str, int] = {}
        file, sheet = self.file, self.sheet
        opre_rows, project_portfolios = self.opre_rows, self.project_portfolios
        count = 0
        without = self.without
        extend = self._extend_line
        for record in self.rows:
            row = record["row"]
            values = record["values"]
            get = values.get
            cells = (get("project_title"), values["can_number"], get("can_description"), get("agreement_name"),
                     get("agreement_type"))
            relation = related.get(cells)
            if relation is None:
                asked = self._asked
                relation = self._relate(values, row)
                if self._asked == asked and len(related) < 65536:
                    related[cells] = relation
            else:
                project_title, project_rows, opre, can, links, agreement_rows = relation
                if project_rows is not None:
                    project_rows.append(row)
                elif opre:
                    opre_rows.append(row)
                can["rows"].append(row)
                if project_title and can["portfolio"]:
                    project_portfolios[project_title].add(can["portfolio"])
                if agreement_rows is not None:
                    agreement_rows.append(row)
            count += 1
            date_needed = get("date_needed")
            if date_needed:
                year = fiscal_years.get(date_needed)
                if year is None:
                    year = fiscal_years[date_needed] = fiscal_year(dt.date.fromisoformat(date_needed))
            else:
                year = None
            budget_id = get("budget_id")
            line = {
                "line_description": get("line_description"),
                "comments": get("comments"),
                "amount": values["amount"],
                "proc_shop_fee_amount": get("proc_fee_amount"),
                "date_needed": date_needed,
                "fiscal_year": year,
                "status": values["status"],
            }
            for name in without:
                del line[name]
            links = relation[4]
            if extend is not None:  # a layout with more to a line (budget_current)
                links = extend(line, links, values, row)
            yield {
                "entity": "budget_line_item",
                "key": {"id": budget_id} if budget_id is not None else None,
                "values": line,
                "links": links,
                "lineage": {"file": file, "sheet": sheet, "rows": str(row)},
            }
        self.counts["budget_line_item"] += count

    def _relate(self, values: dict, row: int) -> tuple:
        """Find or make the row's project, CAN and agreement, and add the row to each.

        Returns (project title, the project's rows or None, whether the title is OPRE, the CAN,
        the budget line's links, the agreement's rows or None).
        """
        title = values.get("project_title")
        project_title = project_rows = None
        opre = False
        key = self._title_keys.get(title) if title else None
        if key is None and title:
            key = self._title_keys[title] = title_key(title) if is_project_title(title) else ""
        if key:
            project = self.projects.setdefault(key, {"title": " ".join(title.split()), "rows": []})
            project_rows = project["rows"]
            project_rows.append(row)
            project_title = project["title"]
        elif title and title_key(title) == "opre":
            opre = True
            self.opre_rows.append(row)

        number = values["can_number"]
        description = values.get("can_description")
        can = self.cans.get(number)
        if can is None:
            portfolio = portfolio_for(description)
            can = self.cans[number] = {
                "number": number, "description": description, "portfolio": portfolio, "rows": [],
                "link": {"number": number},
            }
        elif description and can["description"] and description != can["description"]:
            self._question("can-description-conflict", f"CAN {number} has descriptions "
                           f"{can['description']!r} and {description!r}; the first is used", row)
        elif description and not can["description"]:
            can["description"], can["portfolio"] = description, portfolio_for(description)
        can["rows"].append(row)
        if project_title and can["portfolio"]:
            self.project_portfolios[project_title].add(can["portfolio"])
        agreement = self._agreement_row(values, project_title, row)
        links = {"can": can["link"], "agreement": agreement["link"] if agreement else None}
        return project_title, project_rows, opre, can, links, agreement["rows"] if agreement else None

    def _agreement_row(self, values: dict, project_title: str | None, row: int) -> dict | None:
        raw = values.get("agreement_name")
        if not raw:
            return None
        cached = self._agreement_keys.get((raw, values["agreement_type"]))
        if cached is None:
            if not is_agreement_name(raw):
                return None
            name = " ".join(raw.split())
            cached = self._agreement_keys[(raw, values["agreement_type"])] = (
                name, agreement_key(name, values["agreement_type"]))
        name, key = cached
        agreement = self.agreements.get(key)
        if agreement is None:
            agreement = self.agreements[key] = {
                "name": name, "agreement_type": values["agreement_type"],
                "project": project_title, "rows": [],
                "link": {"name": name, "agreement_type": values["agreement_type"]},
            }
        elif project_title and agreement["project"] and project_title != agreement["project"]:
            self._question("agreement-in-several-projects",
                           f"agreement {agreement['name']!r} appears under projects "
                           f"{agreement['project']!r} and {project_title!r}; the first is used", row)
        elif project_title and not agreement["project"]:
            agreement["project"] = project_title
        agreement["rows"].append(row)
        return agreement

    def _question(self, code: str, text: str, row: int) -> None:
        self._asked += 1
        if len(self.questions) < 200:
            self.questions.append({"code": code, "question": text, "row": row})

    def _summary(self) -> dict:
        for title, portfolios in self.project_portfolios.items():
            if len(portfolios) > 1:
                self.questions.append({
                    "code": "project-in-several-portfolios",
                    "question": f"project {title!r} has CANs in portfolios {', '.join(sorted(portfolios))}: "
                                "one project or several?",
                })
        if self.opre_rows:
            self.questions.append({
                "code": "opre-rows",
                "question": f"{len(self.opre_rows)} rows have Project Title 'OPRE' (first on row "
                            f"{self.opre_rows[0]}); they are loaded without a project: one project or several?",
            })
        return {
            "counts": {
                "project": len(self.projects),
                "can": len(self.cans),
                "agreement": len(self.agreements),
                **self.counts,
            },
            "cans_without_portfolio": [
                {"number": c["number"], "description": c["description"]}
                for c in self.cans.values() if not c["portfolio"]
            ],
            "questions": self.questions,
        }
