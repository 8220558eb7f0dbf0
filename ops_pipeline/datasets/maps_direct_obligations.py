"""MAPS direct obligations (``direct_obligations.tsv``) into OPS's ``agreement`` + ``direct_agreement``.

As the other MAPS agreements (:mod:`.maps_contracts`): keyed by
``('DIRECT_OBLIGATION', SYS_DIRECT_OBLIGATION_ID)`` in ``maps_sys_id``, never by OPS's id (upstream's
later loader writes the MAPS id into ``agreement.id``, where it collides with OPS's sequence); the
project is an optional reference (REF_UNRESOLVED, loaded without it).
"""
from __future__ import annotations

from typing import Iterable

from ..db.entities import EntitySpec
from ..maps import col
from .maps_contracts import MapsAgreementDataset, _ref, agreement_spec, reference


def direct_obligation_spec() -> EntitySpec:
    return agreement_spec(
        "DIRECT_OBLIGATION", name_field="direct_obligation_name",
        links=(reference("project", "project", "project_id", "sys_project_id"),),
    )


class MapsDirectObligations(MapsAgreementDataset):
    name = "maps-direct-obligations"
    title = "MAPS direct obligations (direct_obligations.tsv)"
    maps_type = "direct_obligations"
    agreement_type = "DIRECT_OBLIGATION"
    id_field = "sys_direct_obligation_id"
    name_field = "direct_obligation_name"
    columns = (
        col("DIRECT_OBLIGATION_NAME", required=True),
        col("SYS_DIRECT_OBLIGATION_ID", required=True),
        col("SYS_PROJECT_ID"),
    )
    required_values = ("direct_obligation_name", "sys_direct_obligation_id")
    unique = ("sys_direct_obligation_id",)

    def spec(self) -> EntitySpec:
        return direct_obligation_spec()

    def parse(self, p) -> dict:
        return {
            "direct_obligation_name": p.text("direct_obligation_name"),
            "sys_direct_obligation_id": self.maps_id(p),
            "sys_project_id": p.id("sys_project_id", "project"),
        }

    def records(self, values: dict) -> Iterable[dict]:
        yield self.agreement(values, {}, {"project": _ref(values.get("sys_project_id"))})
