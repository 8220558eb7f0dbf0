"""MAPS contract budget lines (``contract_budget_lines.tsv``) → OPS ``budget_line_item`` +
``contract_budget_line_item``, with the line's modification (``agreement_mod``), CLIN (``clin``)
and invoice line number (``invoice``).

MAPS.md, budget lines (contract): the parent is the contract with the line's SYS_CONTRACT_ID as
its MAPS id. CERTIFIED, CLOSED, ON_HOLD and DOC_RECEIVED are yes/no values (true/false, yes/no,
1/0 in any case; CLOSED also MAPS's ``Closed``); a blank CERTIFIED, CLOSED or ON_HOLD is false
(OPS keeps them NOT NULL), a blank DOC_RECEIVED stays blank. The loader OPS used before made
CERTIFIED true only for ``Yes``, CLOSED only for ``Closed``, ON_HOLD only for ``1`` and
DOC_RECEIVED true for any text, ``false`` included; here any other value is a BAD_BOOLEAN finding.
SYS_TYPE_OF_MODE_ID 1-5 is the mod's type (NEW, ADMIN, AMOUNT_TBD, AS_IS,
REPLACEMENT_AMOUNT_FINAL), kept on the mod MOD_NBR names (one per contract and number). The
requisition columns and SYS_AAP_ID have no place in OPS: reported as not loaded.
"""
from __future__ import annotations

from ..maps import Parse, col
from . import maps_budget_lines as lines
from .cells import FULL

#: SYS_TYPE_OF_MODE_ID -> OPS's ModType
MOD_TYPES = {1: "NEW", 2: "ADMIN", 3: "AMOUNT_TBD", 4: "AS_IS", 5: "REPLACEMENT_AMOUNT_FINAL"}
_FAST_MOD_TYPES = {str(code): name for code, name in MOD_TYPES.items()}
_CLIN_VALUES = ("clin_number", "clin_name", "pop_start_date", "pop_end_date")
REQUISITION = "OPS keeps requisitions on procurement actions, which MAPS exports do not have"


def _mod_type(p: Parse) -> str | None:
    code = p.integer("sys_type_of_mode_id")
    if code is None:
        return None
    if code not in MOD_TYPES:
        p.problem("BAD_ENUM", "sys_type_of_mode_id",
                  f"{code} is not a MAPS mod type (1 to 5: {', '.join(MOD_TYPES.values())})", code)
        return None
    return MOD_TYPES[code]


class MapsContractBudgetLines(lines.MapsBudgetLines):
    name = "maps-contract-budget-lines"
    title = "MAPS contract budget lines export"
    maps_type = "contract_budget_lines"
    kind = "CONTRACT"
    columns = (
        *lines.common_columns("SYS_CONTRACT_ID"),
        col("INVOICE_LINE_NBR"),
        col("SYS_TYPE_OF_MODE_ID"),
        col("EXTEND_POP_TO"),
        col("ZERO_REQUISITION_NBR", unloaded=REQUISITION),
        col("ZERO_REQUISITION_DATE", unloaded=REQUISITION),
        col("REQUISITION_NBR", unloaded=REQUISITION),
        col("REQUISITION_DATE", unloaded=REQUISITION),
        col("REQUISITION_GROUP", unloaded=REQUISITION),
        col("REQUISITION_CHECK", unloaded=REQUISITION),
        col("SYS_AAP_ID", unloaded="OPS has no acquisition plan for a line"),
        col("OBJECT_CLASS_CODE"),
        col("MOD_NBR"),
        col("DOC_RECEIVED"),
        col("PSC_FEE_DOC_NBR"),
        col("PSC_FEE_PYMT_REF_NBR"),
        col("OBLIGATION_DATE"),
        col("CERTIFIED"),
        col("PERF_START_DATE"),
        col("PERF_END_DATE"),
        col("CLOSED"),
        col("CLOSED_BY"),
        col("CLOSE_DATE"),
        col("SYS_CLIN_ID"),
        col("ON_HOLD"),
        col("CLIN_NAME"),
        col("CLIN"),
        col("POP_START_DATE"),
        col("POP_END_DATE"),
    )
    required_values = ("sys_contract_id",)
    unique = ("sys_budget_id",)
    line_fields = ("extend_pop_to", "doc_received", "psc_fee_doc_number", "psc_fee_pymt_ref_nbr", "obligation_date",
                   "certified", "start_date", "end_date", "closed", "closed_date", "on_hold")
    shared = ("agreement_mod", "clin")
    entity_order = ("agreement_mod", "clin", "budget_line_item", "invoice")

    cells = (
        *lines.common_cells("SYS_CONTRACT_ID"),
        lines.date("extend_pop_to", "extend_pop_to"),
        lines.integer("object_class_code", "object_class_code"),
        lines.flag("doc_received", "doc_received"),
        lines.text("psc_fee_doc_number", "psc_fee_doc_nbr"),
        lines.text("psc_fee_pymt_ref_nbr", "psc_fee_pymt_ref_nbr"),
        lines.date("obligation_date", "obligation_date"),
        lines.flag("certified", "certified", blank=False),
        lines.date("start_date", "perf_start_date"),
        lines.date("end_date", "perf_end_date"),
        lines.flag("closed", "closed", blank=False, closed=True),
        lines.maps_id("closed_by", "closed_by", "ops_user"),
        lines.date("closed_date", "close_date"),
        lines.flag("on_hold", "on_hold", blank=False),
        lines.text("mod_number", "mod_nbr"),
        lines.Cell("mod_type", "sys_type_of_mode_id", lambda p: _mod_type(p), lambda t: _FAST_MOD_TYPES.get(t, FULL)),
        lines.maps_id("clin_id", "sys_clin_id", "clin"),
        lines.integer("clin_number", "clin"),
        lines.text("clin_name", "clin_name"),
        lines.date("pop_start_date", "pop_start_date"),
        lines.date("pop_end_date", "pop_end_date"),
        lines.integer("invoice_line_number", "invoice_line_nbr"),
    )

    def check(self, p: Parse, values: dict) -> None:
        if values["invoice_line_number"] is not None and values["sys_budget_id"] is None:
            p.problem("COLUMN_UNLOADED", "invoice_line_nbr", "an invoice line number of a line without a "
                      "SYS_BUDGET_ID: OPS keeps the invoice by the line's id, which the file does not give",
                      values["invoice_line_number"])
            values["invoice_line_number"] = None
        if values["mod_type"] is not None and values["mod_number"] is None:
            p.problem("COLUMN_UNLOADED", "sys_type_of_mode_id",
                      "a mod type without a MOD_NBR: OPS keeps the type on the mod, and the line names none",
                      p.raw("sys_type_of_mode_id"))
        if values["clin_id"] is None and any(values[f] is not None for f in _CLIN_VALUES):
            p.problem("COLUMN_UNLOADED", "clin_name" if values["clin_name"] is not None else "clin",
                      "CLIN values without a SYS_CLIN_ID: OPS keeps them on the CLIN, and the line names none")

    def plain(self, values: dict) -> bool:
        return not ((values["invoice_line_number"] is not None and values["sys_budget_id"] is None)
                    or (values["mod_type"] is not None and values["mod_number"] is None)
                    or (values["clin_id"] is None and any(values[f] is not None for f in _CLIN_VALUES)))

    def records(self, values: dict):
        contract = {"agreement_type": "CONTRACT", "maps_sys_id": values["parent"]}
        if values["mod_number"] is not None:
            mod = {"agreement": contract, "number": values["mod_number"]}
            yield {"entity": "agreement_mod", "key": mod,
                   "values": {"number": values["mod_number"], "mod_type": values["mod_type"]},
                   "links": {"agreement": contract}}
        if values["clin_id"] is not None:
            yield {"entity": "clin", "key": {"id": values["clin_id"]},
                   "values": {"number": values["clin_number"], "name": values["clin_name"],
                              "pop_start_date": values["pop_start_date"], "pop_end_date": values["pop_end_date"]},
                   "links": {"agreement": contract}}
        yield from super().records(values)
        if values["invoice_line_number"] is not None:
            line = {"id": values["sys_budget_id"]}
            yield {"entity": "invoice", "key": {"budget_line": line},
                   "values": {"invoice_line_number": values["invoice_line_number"]}, "links": {"budget_line": line}}

    def add_links(self, values: dict, links: dict) -> None:
        if values["closed_by"] is not None:
            links["closed_by"] = {"id": values["closed_by"]}
        if values["mod_number"] is not None:
            links["mod"] = {"agreement": links["agreement"], "number": values["mod_number"]}
        if values["clin_id"] is not None:
            links["clin"] = {"id": values["clin_id"]}

    def entities(self) -> tuple:
        return (*self.references(), lines.mod_spec(), lines.clin_spec(),
                lines.line_spec(self.kind, self.line_fields,
                                extra_links=(lines.closed_by_link(), lines.mod_link(), lines.clin_link())),
                lines.invoice_spec())
