"""MAPS IAA budget lines (``iaa_budget_lines.tsv``) → OPS ``budget_line_item`` + ``iaa_budget_line_item``.

MAPS.md, budget lines (IAA): the parent is the IAA with the line's SYS_IAA_ID as its MAPS id.
DOC_RECEIVED is read as it is written: a yes/no value (true/false, yes/no, 1/0 in any case), blank
stays blank. The loader OPS used before inverted it (blank → received, ``1`` → not received) and
made a blank fee rate 0; here a blank OVERWRITE_PSC_FEE_RATE stays blank.
"""
from __future__ import annotations

from ..maps import col
from . import maps_budget_lines as lines


class MapsIaaBudgetLines(lines.MapsBudgetLines):
    name = "maps-iaa-budget-lines"
    title = "MAPS IAA budget lines export"
    maps_type = "iaa_budget_lines"
    kind = "IAA"
    columns = (
        *lines.common_columns("SYS_IAA_ID"),
        col("DOC_RECEIVED"),
        col("IP_NBR"),
    )
    required_values = ("sys_iaa_id",)
    unique = ("sys_budget_id",)
    line_fields = ("doc_received", "ip_nbr")

    cells = (
        *lines.common_cells("SYS_IAA_ID"),
        lines.flag("doc_received", "doc_received"),
        lines.text("ip_nbr", "ip_nbr"),
    )

    def entities(self) -> tuple:
        return (*self.references(), lines.line_spec(self.kind, self.line_fields))
