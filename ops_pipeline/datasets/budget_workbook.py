"""The budget workbook: one row per budget line, kept by budget staff in Excel.

Columns and rules are those of DOMAIN.md; the business rules that turn rows into projects, CANs,
agreements and budget lines live in ``ops_pipeline.rules`` and are pinned by ``features/``.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Iterator

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
from ..rules.money import parse_amount
from ..rules.portfolios import portfolio_for
from .base import Column, Dataset, Problem, TransformResult, register, row_ranges

# Longest text each database column takes (kept in step with db/models.py by a test).
MAX_LENGTH = {
    "project_title": 500,
    "agreement_name": 500,
    "line_description": 1000,
    "comments": 4000,
    "can_description": 255,
}

_CHANGE_LOG = (
    "EFFECTIVE_DATE", "REQUESTED_BY", "HOW_REQUESTED", "CHANGE_REASONS", "WHO_UPDATED",
    "FISCAL_YEAR", "NEW_VS_CONTINUING", "APPLIED_RESEARCH_VS_EVALUATIVE", "PROC_SHOP",
)


@register
class BudgetWorkbook(Dataset):
    name = "budget-workbook"
    title = "OPS budget spreadsheet"
    preferred_sheets = ("All Budget - Cur",)
    entity_order = ("project", "can", "agreement", "budget_line_item")
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
    def skip_reason(self, values: dict) -> str | None:
        used = [v for k, v in values.items() if v is not None and not self.column(k).ignored]
        if not used:
            return "blank row"
        first = next((v for v in values.values() if v is not None), None)
        if isinstance(first, str) and first.strip().casefold().startswith(("total", "grand total")):
            return "totals row"
        if is_placeholder_row(_text_or_none(values.get("agreement_name"))):
            return "placeholder row (CIG Name is Placeholder)"
        if len(used) == 1 and isinstance(used[0], str) and values.get("can") == used[0] and len(used[0]) > 20:
            # A sentence in the first column below or above the table: a note, not a budget line.
            return "note row"
        return None

    def check_row(self, values: dict, state: dict) -> tuple[dict, list[Problem]]:
        problems: list[Problem] = []
        out: dict = {}

        def run(field_name, parser, *args, required=False, missing_code="missing-value"):
            raw = values.get(field_name)
            if raw is None:
                if required:
                    column = self.column(field_name)
                    problems.append(Problem(missing_code, f"{column.header} is empty", field_name))
                return None
            if isinstance(raw, CellError):
                problems.append(Problem("cell-error", f"the cell holds the error {raw}", field_name, raw))
                return None
            try:
                return parser(raw, *args)
            except RuleViolation as violation:
                problems.append(Problem(violation.code, violation.message, field_name, raw))
                return None

        can = run("can", parse_can, required=True)
        if can:
            out["can_number"], out["can_description"] = can
            if can.number == PLACEHOLDER_CAN:
                problems.append(Problem("placeholder-can", "the placeholder CAN A000000", "can", values["can"]))

        budget_id = run("budget_id", parse_budget_id)
        out["budget_id"] = budget_id
        if budget_id is not None:
            seen = state.setdefault("budget_ids", {})
            if budget_id in seen:
                problems.append(Problem(
                    "duplicate-budget-id", f"budget id {budget_id} is also on row {seen[budget_id]}",
                    "budget_id", values["budget_id"],
                ))
            else:
                seen[budget_id] = state.get("row")

        for name in ("project_title", "agreement_name", "line_description", "comments"):
            out[name] = run(name, _text)
        agreement_type = run("agreement_type", parse_agreement_type)
        out["agreement_type"] = agreement_type
        if is_agreement_name(out["agreement_name"]) and agreement_type is None and values.get("agreement_type") is None:
            problems.append(Problem("missing-value", "CIG Type is empty but CIG Name is given", "agreement_type"))
        if agreement_type and not is_agreement_name(out["agreement_name"]):
            problems.append(Problem("missing-value", "CIG Name is empty but CIG Type is given", "agreement_name"))

        date_needed = run("date_needed", parse_date, state.get("date1904", False))
        out["date_needed"] = date_needed.isoformat() if date_needed else None
        amount = run("amount", parse_amount, required=True)
        out["amount"] = str(amount) if amount is not None else None
        fee = run("proc_fee_amount", parse_amount)
        out["proc_fee_amount"] = str(fee) if fee is not None else None
        out["status"] = run("status", parse_status, required=True)

        for name, limit in MAX_LENGTH.items():
            text = out.get(name)
            if text and len(text) > limit:
                problems.append(Problem(
                    "too-long", f"{len(text)} characters, more than the {limit} OPS stores",
                    "can" if name == "can_description" else name, values.get(name),
                ))
        return out, problems

    # -- transform ----------------------------------------------------------------------------
    def transform(self, rows: Iterator[dict], context: dict) -> TransformResult:
        return _BudgetTransform(rows, context).result()


def _text(value: object) -> str | None:
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, (dt.date, dt.datetime, dt.time)):
        text = value.isoformat()
    elif isinstance(value, bool):
        raise RuleViolation("bad-text", "a true/false cell where text was expected")
    else:
        text = str(value)
    return text or None


def _text_or_none(value: object) -> str | None:
    return value.strip() if isinstance(value, str) else None


class _BudgetTransform:
    """Applies the business rules to the valid rows, in one streaming pass."""

    def __init__(self, rows: Iterator[dict], context: dict):
        self.rows = rows
        self.sheet = context.get("sheet")
        self.projects: dict[str, dict] = {}
        self.cans: dict[str, dict] = {}
        self.agreements: dict[tuple, dict] = {}
        self.questions: list[dict] = []
        self.opre_rows: list[int] = []
        self.project_portfolios: dict[str, set] = defaultdict(set)
        self.counts = {"budget_line_item": 0}

    def result(self) -> TransformResult:
        return TransformResult(entities=self._entities(), summary=self._summary)

    def _entities(self) -> Iterator[dict]:
        # Budget lines stream out first (the caller files each kind separately); the entities they
        # refer to are complete once every row has been seen.
        for record in self.rows:
            line = self._row(record["row"], record["values"])
            if line:
                yield line
        for project in self.projects.values():
            yield {
                "entity": "project",
                "key": {"title": project["title"]},
                "values": {"title": project["title"], "project_type": "RESEARCH"},
                "links": {},
                "lineage": {"sheet": self.sheet, "rows": row_ranges(project["rows"])},
            }
        for can in self.cans.values():
            yield {
                "entity": "can",
                "key": {"number": can["number"]},
                "values": {"number": can["number"], "description": can["description"]},
                "links": {"portfolio": {"abbreviation": can["portfolio"]} if can["portfolio"] else None},
                "lineage": {"sheet": self.sheet, "rows": row_ranges(can["rows"])},
            }
        for agreement in self.agreements.values():
            project = agreement["project"]
            yield {
                "entity": "agreement",
                "key": {"name": agreement["name"], "agreement_type": agreement["agreement_type"]},
                "values": {"name": agreement["name"], "agreement_type": agreement["agreement_type"]},
                "links": {"project": {"title": project} if project else None},
                "lineage": {"sheet": self.sheet, "rows": row_ranges(agreement["rows"])},
            }

    def _row(self, row: int, values: dict) -> dict:
        title = values.get("project_title")
        project_title = None
        if is_project_title(title):
            key = title_key(title)
            project = self.projects.setdefault(key, {"title": " ".join(title.split()), "rows": []})
            project["rows"].append(row)
            project_title = project["title"]
        elif title and title.strip().casefold() == "opre":
            self.opre_rows.append(row)

        number = values["can_number"]
        description = values.get("can_description")
        portfolio = portfolio_for(description)
        can = self.cans.get(number)
        if can is None:
            can = self.cans[number] = {
                "number": number, "description": description, "portfolio": portfolio, "rows": [],
            }
        elif description and can["description"] and description != can["description"]:
            self._question("can-description-conflict", f"CAN {number} has descriptions "
                           f"{can['description']!r} and {description!r}; the first is used", row)
        elif description and not can["description"]:
            can["description"], can["portfolio"] = description, portfolio
        can["rows"].append(row)
        if project_title and can["portfolio"]:
            self.project_portfolios[project_title].add(can["portfolio"])

        agreement_link = None
        name = values.get("agreement_name")
        if is_agreement_name(name):
            name = " ".join(name.split())
            key = agreement_key(name, values["agreement_type"])
            agreement = self.agreements.get(key)
            if agreement is None:
                agreement = self.agreements[key] = {
                    "name": name, "agreement_type": values["agreement_type"],
                    "project": project_title, "rows": [],
                }
            elif project_title and agreement["project"] and title_key(project_title) != title_key(agreement["project"]):
                self._question("agreement-in-several-projects",
                               f"agreement {agreement['name']!r} appears under projects "
                               f"{agreement['project']!r} and {project_title!r}; the first is used", row)
            elif project_title and not agreement["project"]:
                agreement["project"] = project_title
            agreement["rows"].append(row)
            agreement_link = {"name": agreement["name"], "agreement_type": agreement["agreement_type"]}

        self.counts["budget_line_item"] += 1
        date_needed = values.get("date_needed")
        return {
            "entity": "budget_line_item",
            "key": {"id": values["budget_id"]} if values.get("budget_id") is not None else None,
            "values": {
                "line_description": values.get("line_description"),
                "comments": values.get("comments"),
                "amount": values["amount"],
                "proc_shop_fee_amount": values.get("proc_fee_amount"),
                "date_needed": date_needed,
                "fiscal_year": fiscal_year(dt.date.fromisoformat(date_needed)) if date_needed else None,
                "status": values["status"],
            },
            "links": {"can": {"number": number}, "agreement": agreement_link},
            "lineage": {"sheet": self.sheet, "rows": str(row)},
        }

    def _question(self, code: str, text: str, row: int) -> None:
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
