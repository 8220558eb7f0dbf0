"""MAPS vendors export (``vendors.tsv``) → OPS ``vendor``.

MAPS.md §2 "vendors": SYS_VENDOR_ID is the vendor's OPS id (below 100), DUNS stays text with its
leading zeros (MAPS's loader cast it to an integer), STATUS is ACTIVE or INACTIVE (a blank one is
loaded as inactive, as MAPS's loader did, with a VALUE_COERCED warning; anything else is refused).
"""
from __future__ import annotations

from typing import Iterable

from ..findings import WARNING
from ..maps import MapsDataset, Parse, col
from .base import Problem

#: STATUS → vendor.active
STATUSES = {"ACTIVE": True, "INACTIVE": False}


class MapsVendors(MapsDataset):
    name = "maps-vendors"
    title = "MAPS vendors export"
    maps_type = "vendors"
    tier = 2
    columns = (
        col("SYS_VENDOR_ID", required=True),
        col("VENDOR_NAME", required=True),
        col("DUNS"),
        col("ADDRESS", pii=True, unloaded="OPS keeps vendor contacts, which the pipeline does not load yet"),
        col("HEAD_OF_CONTRACT", pii=True,
            unloaded="OPS keeps vendor contacts, which the pipeline does not load yet"),
        col("PHONE_NBR", pii=True, unloaded="OPS keeps vendor contacts, which the pipeline does not load yet"),
        col("EMAIL", pii=True, unloaded="OPS keeps vendor contacts, which the pipeline does not load yet"),
        col("STATUS"),
        col("LAST_MODIFIED_DATE", unloaded="OPS records when it changed a vendor itself"),
        col("LAST_MODIFIED_BY", pii=True, unloaded="OPS records who changed a vendor itself"),
    )
    required_values = ("sys_vendor_id", "vendor_name")
    unique = ("sys_vendor_id",)
    entity_order = ("vendor",)
    finding_codes = {
        "VENDOR_DUNS_REPEATED": (WARNING, "two vendors of the export have the same DUNS"),
    }

    def parse(self, p: Parse) -> dict:
        return {
            "sys_vendor_id": p.id("sys_vendor_id", "vendor"),
            "vendor_name": p.text("vendor_name"),
            "duns": p.text("duns"),
            "active": _active(p),
        }

    def check_row(self, values: dict, state: dict) -> tuple[dict, list[Problem]]:
        parsed, problems = super().check_row(values, state)
        duns = parsed.get("duns")
        if duns is not None:
            # MAPS's loader never noticed two vendors sharing a DUNS (a vendor entered twice?)
            first = state.setdefault("duns", {}).setdefault(duns, state.get("row"))
            if first != state.get("row"):
                problems.append(Problem("VENDOR_DUNS_REPEATED", f"DUNS {duns} is also the DUNS of the vendor on "
                                                               f"line {first}", "duns", duns))
        return parsed, problems

    def records(self, values: dict) -> Iterable[dict]:
        yield {
            "entity": "vendor",
            "key": {"id": values["sys_vendor_id"]},
            "values": {"name": values["vendor_name"], "duns": values["duns"], "active": values["active"]},
            "links": {},
        }

    def entities(self) -> tuple:
        return vendor_entities()


def _active(p) -> bool | None:
    status = p.raw("status")
    if status is None or not status.strip():
        p.problem("VALUE_COERCED", "status", "STATUS is blank: the vendor is loaded as inactive (as MAPS's loader did)")
        return False
    status = status.strip()
    if status not in STATUSES:
        p.problem("BAD_ENUM", "status", f"STATUS {status!r} is neither ACTIVE nor INACTIVE", value=status)
        return None
    return STATUSES[status]


def vendor_entities() -> tuple:
    from ..db import ops_models as m
    from ..db.entities import EntitySpec, Key

    vendor = EntitySpec("vendor", m.Vendor, Key(("id",), by_id="id"), fields=("name", "duns", "active"),
                        update="all")
    return (vendor,)
