"""MAPS IAAs (``iaas.tsv``) into OPS's ``agreement`` + ``iaa_agreement``.

As the other MAPS agreements (:mod:`.maps_contracts`): keyed by ``('IAA', SYS_IAA_ID)``; the
project and the customer agency are optional references (REF_UNRESOLVED, loaded without them:
upstream nulls them silently). Every MAPS IAA is OUTGOING (OPRE pays the other agency). The
points of contact are people's names (PII: masked in reports).
"""
from __future__ import annotations

from ..db.entities import EntitySpec
from .maps_contracts import agreement_spec, reference


def iaa_spec() -> EntitySpec:
    return agreement_spec(
        "IAA", name_field="iaa_name",
        fields=("opre_poc", "agency_poc"),
        links=(reference("project", "project", "project_id", "sys_project_id"),
               reference("iaa_customer_agency", "iaa_customer_agency", "iaa_customer_agency_id",
                         "sys_iaa_customer_agency_id")),
        subtype_columns=("opre_poc", "agency_poc", "iaa_customer_agency_id"),
    )
