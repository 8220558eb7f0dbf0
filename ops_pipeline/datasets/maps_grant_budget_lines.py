"""MAPS grant budget lines (``grant_budget_lines.tsv``) → OPS ``budget_line_item`` +
``grant_budget_line_item``, with the grantee's details (``grant_budget_line_item_detail``).

MAPS.md, budget lines (grant): the parent is the grant with the line's SYS_GRANTS_ID as its MAPS
id. YEAR is the grant year, OBLIGATED_DATE the obligation date, BUDGET_START_DATE/END_DATE the
line's period. GRANTS_NBR, GRANTEE, EDUCATIONAL_INSTITUTE and STATE_CODE are the grantee's details,
one row shared by every line naming the same four values (as OPS's loader keyed them).
EDUCATIONAL_INSTITUTE is a yes/no value (true/false, yes/no, 1/0 in any case; blank stays blank;
the loader OPS used before made anything but 1 and 0 blank, silently); STATE_CODE an exact
two-letter code OPS knows (``MD``, not ``Md``). ENABLE has no place in OPS: reported as not loaded.
"""
from __future__ import annotations

from ..db import ops_models as m
from ..maps import Parse, col
from . import maps_budget_lines as lines
from .cells import FULL

STATES = m.ENUMS["statecode"]
_STATES = frozenset(STATES)


def _state(p: Parse) -> str | None:
    """An exact two-letter code OPS knows; the message names the code meant, not all 56."""
    text = p.raw("state_code")
    if text is None or text in _STATES:
        return text
    hint = f"written {text.upper()}" if text.upper() in _STATES else "two capital letters, such as MD"
    p.problem("BAD_ENUM", "state_code", f"{text!r} is not a state code OPS knows ({hint})", text)
    return None


class MapsGrantBudgetLines(lines.MapsBudgetLines):
    name = "maps-grant-budget-lines"
    title = "MAPS grant budget lines export"
    maps_type = "grant_budget_lines"
    kind = "GRANT"
    columns = (
        *lines.common_columns("SYS_GRANTS_ID"),
        col("YEAR"),
        col("BNS_NBR"),
        col("COMMITTED_DATE"),
        col("FA_SIGNED_DATE"),
        col("OBLIGATED_DATE"),
        col("BUDGET_START_DATE"),
        col("BUDGET_END_DATE"),
        col("OBJECT_CLASS_CODE"),
        col("ENABLE", unloaded="OPS has no place for MAPS's enable flag"),
        col("GRANTS_NBR"),
        col("GRANTEE"),
        col("EDUCATIONAL_INSTITUTE"),
        col("STATE_CODE"),
    )
    required_values = ("sys_grants_id",)
    unique = ("sys_budget_id",)
    line_fields = ("grant_year_number", "bns_number", "committed_date", "fa_signed_date", "obligation_date",
                   "start_date", "end_date")
    shared = ("grant_budget_line_item_detail",)
    entity_order = ("grant_budget_line_item_detail", "budget_line_item")

    cells = (
        *lines.common_cells("SYS_GRANTS_ID"),
        lines.integer("grant_year_number", "year"),
        lines.text("bns_number", "bns_nbr"),
        lines.date("committed_date", "committed_date"),
        lines.date("fa_signed_date", "fa_signed_date"),
        lines.date("obligation_date", "obligated_date"),
        lines.date("start_date", "budget_start_date"),
        lines.date("end_date", "budget_end_date"),
        lines.integer("object_class_code", "object_class_code"),
        lines.text("grants_number", "grants_nbr"),
        lines.text("grantee_name", "grantee"),
        lines.flag("educational_institution", "educational_institute"),
        lines.Cell("state_code", "state_code", _state, lambda t: t if t in _STATES else FULL),
    )

    def records(self, values: dict):
        detail = self._detail(values)
        if detail is not None:
            yield {"entity": "grant_budget_line_item_detail", "key": detail, "values": detail}
        yield from super().records(values)

    @staticmethod
    def _detail(values: dict) -> dict | None:
        detail = {name: values[name] for name in lines.DETAIL_KEY}
        return detail if any(v is not None for v in detail.values()) else None

    def add_links(self, values: dict, links: dict) -> None:
        detail = self._detail(values)
        if detail is not None:
            links["details"] = detail

    def entities(self) -> tuple:
        return (*self.references(), lines.detail_spec(),
                lines.line_spec(self.kind, self.line_fields, extra_links=(lines.detail_link(),)))
