"""MAPS direct obligation budget lines (``direct_obligation_budget_lines.tsv``) → OPS
``budget_line_item`` + ``direct_obligation_budget_line_item``.

MAPS.md, budget lines (direct obligation): the parent is the *direct obligation* with the line's
SYS_DIRECT_OBLIGATION_ID as its MAPS id. The loader OPS used before looked that id up among every
kind of agreement (so a line could land under a contract that shares the number) and stored a
line whose parent it did not find without one; here the lookup is by type and MAPS id, and a line
without its parent is refused (BLI_ORPHAN). The project officer and requisition columns have no
place on an OPS line: reported as not loaded.
"""
from __future__ import annotations

from ..maps import col
from . import maps_budget_lines as lines

OFFICER = "OPS keeps the project officer on the agreement, not on its lines"


class MapsDirectObligationBudgetLines(lines.MapsBudgetLines):
    name = "maps-direct-obligation-budget-lines"
    title = "MAPS direct obligation budget lines export"
    maps_type = "direct_obligation_budget_lines"
    kind = "DIRECT_OBLIGATION"
    columns = (
        *lines.common_columns("SYS_DIRECT_OBLIGATION_ID"),
        col("PROJECT_OFFICER", unloaded=OFFICER, pii=True),
        col("PROJECT_OFFICER_USER_ID", unloaded=OFFICER),
        col("RECEIVING_AGENCY"),
        col("OBJECT_CLASS_CODE"),
        col("REQUISITION_NBR", unloaded="OPS keeps requisitions on procurement actions, which MAPS exports do "
                                         "not have"),
        col("IP_NBR"),
    )
    required_values = ("sys_direct_obligation_id",)
    unique = ("sys_budget_id",)
    line_fields = ("receiving_agency", "ip_nbr")

    cells = (
        *lines.common_cells("SYS_DIRECT_OBLIGATION_ID"),
        lines.text("receiving_agency", "receiving_agency"),
        lines.text("ip_nbr", "ip_nbr"),
        lines.integer("object_class_code", "object_class_code"),
    )

    def entities(self) -> tuple:
        return (*self.references(), lines.line_spec(self.kind, self.line_fields))
