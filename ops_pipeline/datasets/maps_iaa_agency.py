"""MAPS IAA customer agencies export (``iaa_agency.tsv``) → OPS ``iaa_customer_agency``.

MAPS.md §2 "iaa_agency": SYS_IAA_CUSTOMER_AGENCY_ID is the agency's OPS id (below 100). The object
class code is looked up among OPS's seeded codes; MAPS's loader silently left an unknown one out,
here the agency loads without it and a REF_UNRESOLVED warning names the cell.
"""
from __future__ import annotations

from typing import Iterable

from ..maps import MapsDataset, col


class MapsIaaAgency(MapsDataset):
    name = "maps-iaa-agency"
    title = "MAPS IAA customer agencies export"
    maps_type = "iaa_agency"
    tier = 2
    columns = (
        col("SYS_IAA_CUSTOMER_AGENCY_ID", required=True),
        col("CUSTOMER_AGENCY_NAME", required=True),
        col("OBJECT_CLASS_CODE"),
        col("CUSTOMER_AGENCY_NBR"),
        col("CUSTOMER_DUNS"),
    )
    required_values = ("sys_iaa_customer_agency_id", "customer_agency_name")
    unique = ("sys_iaa_customer_agency_id",)
    entity_order = ("iaa_customer_agency",)

    def parse(self, p) -> dict:
        return {
            "sys_iaa_customer_agency_id": p.id("sys_iaa_customer_agency_id", "iaa_customer_agency"),
            "customer_agency_name": p.text("customer_agency_name"),
            "object_class_code": p.integer("object_class_code"),
            "customer_agency_nbr": p.text("customer_agency_nbr"),
            "customer_duns": p.text("customer_duns"),
        }

    def records(self, values: dict) -> Iterable[dict]:
        code = values["object_class_code"]
        yield {
            "entity": "iaa_customer_agency",
            "key": {"id": values["sys_iaa_customer_agency_id"]},
            "values": {"name": values["customer_agency_name"], "customer_agency_nbr": values["customer_agency_nbr"],
                       "customer_duns": values["customer_duns"]},
            "links": {"object_class_code": {"code": code}} if code is not None else {},
        }

    def entities(self) -> tuple:
        return agency_entities()


def agency_entities() -> tuple:
    from ..db import ops_models as m
    from ..db.entities import EntitySpec, Key, Link

    code = EntitySpec("object_class_code", m.ObjectClassCode, Key(("code",)), insert=False,
                      label="object class code")
    agency = EntitySpec(
        "iaa_customer_agency", m.IAACustomerAgency, Key(("id",), by_id="id"),
        fields=("name", "customer_agency_nbr", "customer_duns"),
        links=(Link("object_class_code", "object_class_code", "object_class_code_id", field="object_class_code",
                    code="REF_UNRESOLVED", explain="OPS's seeded object class codes do not include it"),),
        update="all", label="IAA customer agency",
    )
    return code, agency
