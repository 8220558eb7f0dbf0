"""MAPS IAAs (``iaas.tsv``) into OPS's ``agreement`` + ``iaa_agreement``.

As the other MAPS agreements (:mod:`.maps_contracts`): keyed by ``('IAA', SYS_IAA_ID)``; the
project and the customer agency are optional references (REF_UNRESOLVED, loaded without them:
upstream nulls them silently). Every MAPS IAA is OUTGOING (OPRE pays the other agency). The
points of contact are people's names (PII: masked in reports).
"""
from __future__ import annotations

from typing import Iterable

from ..db.entities import EntitySpec
from ..maps import col
from .maps_contracts import MapsAgreementDataset, _ref, agreement_spec, reference


def iaa_spec() -> EntitySpec:
    return agreement_spec(
        "IAA", name_field="iaa_name",
        fields=("opre_poc", "agency_poc"),
        links=(reference("project", "project", "project_id", "sys_project_id"),
               reference("iaa_customer_agency", "iaa_customer_agency", "iaa_customer_agency_id",
                         "sys_iaa_customer_agency_id")),
        subtype_columns=("opre_poc", "agency_poc", "iaa_customer_agency_id"),
    )


class MapsIaas(MapsAgreementDataset):
    name = "maps-iaas"
    title = "MAPS inter-agency agreements (iaas.tsv)"
    maps_type = "iaas"
    agreement_type = "IAA"
    id_field = "sys_iaa_id"
    name_field = "iaa_name"
    columns = (
        col("IAA_NAME", required=True),
        col("SYS_IAA_ID", required=True),
        col("SYS_PROJECT_ID"),
        col("SYS_IAA_CUSTOMER_AGENCY_ID"),
        col("OPRE_POC", pii=True),
        col("AGENCY_POC", pii=True),
    )
    required_values = ("iaa_name", "sys_iaa_id")
    unique = ("sys_iaa_id",)

    def spec(self) -> EntitySpec:
        return iaa_spec()

    def parse(self, p) -> dict:
        return {
            "iaa_name": p.text("iaa_name"),
            "sys_iaa_id": self.maps_id(p),
            "sys_project_id": p.id("sys_project_id", "project"),
            "sys_iaa_customer_agency_id": p.id("sys_iaa_customer_agency_id", "iaa_customer_agency"),
            "opre_poc": p.text("opre_poc"),
            "agency_poc": p.text("agency_poc"),
        }

    def records(self, values: dict) -> Iterable[dict]:
        get = values.get
        yield self.agreement(values, {"opre_poc": get("opre_poc"), "agency_poc": get("agency_poc")}, {
            "project": _ref(get("sys_project_id")),
            "iaa_customer_agency": _ref(get("sys_iaa_customer_agency_id")),
        })
