"""MAPS grants (``grants.tsv``) into OPS's ``agreement`` + ``grant_agreement``.

As the other MAPS agreements (:mod:`.maps_contracts`): keyed by ``('GRANT', SYS_GRANTS_ID)``; the
project and officers are optional references (REF_UNRESOLVED, loaded without them: upstream
nulls them silently); a blank cell on a rerun keeps OPS's value. MAPS writes grant dates with a
time of day (``2021-09-30 00:00:00``) and only that form is read: a plain date is a finding.
"""
from __future__ import annotations

from typing import Iterable

from ..db.entities import EntitySpec
from ..maps import col
from .maps_contracts import MapsAgreementDataset, _iso, _ref, agreement_spec, reference


def grant_spec() -> EntitySpec:
    return agreement_spec(
        "GRANT", name_field="grants_title",
        fields=("start_date", "end_date", "foa", "total_funding", "number_of_years", "number_of_grants"),
        links=(reference("project", "project", "project_id", "sys_project_id"),
               reference("project_officer", "user", "project_officer_id", "opre_project_officer_id"),
               reference("alternate_project_officer", "user", "alternate_project_officer_id",
                         "opre_alt_project_officer_id")),
        subtype_columns=("foa", "total_funding", "number_of_years", "number_of_grants"),
    )


class MapsGrants(MapsAgreementDataset):
    name = "maps-grants"
    title = "MAPS grants (grants.tsv)"
    maps_type = "grants"
    agreement_type = "GRANT"
    id_field = "sys_grants_id"
    name_field = "grants_title"
    columns = (
        col("GRANTS_TITLE", required=True),
        col("SYS_GRANTS_ID", required=True),
        col("SYS_PROJECT_ID"),
        col("OPRE_PROJECT_OFFICER_ID"),
        col("OPRE_ALT_PROJECT_OFFICER_ID"),
        col("FOA_NBR"),
        col("TOTAL_FUNDING"),
        col("GRANTS_START_DATE"),
        col("GRANTS_END_DATE"),
        col("NUMBER_OF_YEARS"),
        col("NUMBER_OF_GRANTS"),
    )
    required_values = ("grants_title", "sys_grants_id")
    unique = ("sys_grants_id",)

    def spec(self) -> EntitySpec:
        return grant_spec()

    def parse(self, p) -> dict:
        funding = p.money("total_funding")
        return {
            "grants_title": p.text("grants_title"),
            "sys_grants_id": self.maps_id(p),
            "sys_project_id": p.id("sys_project_id", "project"),
            "opre_project_officer_id": p.id("opre_project_officer_id", "ops_user"),
            "opre_alt_project_officer_id": p.id("opre_alt_project_officer_id", "ops_user"),
            "foa_nbr": p.text("foa_nbr"),
            "total_funding": str(funding) if funding is not None else None,
            "grants_start_date": _iso(p.datetime("grants_start_date")),
            "grants_end_date": _iso(p.datetime("grants_end_date")),
            "number_of_years": p.integer("number_of_years"),
            "number_of_grants": p.integer("number_of_grants"),
        }

    def records(self, values: dict) -> Iterable[dict]:
        get = values.get
        yield self.agreement(values, {
            "start_date": get("grants_start_date"), "end_date": get("grants_end_date"), "foa": get("foa_nbr"),
            "total_funding": get("total_funding"), "number_of_years": get("number_of_years"),
            "number_of_grants": get("number_of_grants"),
        }, {
            "project": _ref(get("sys_project_id")),
            "project_officer": _ref(get("opre_project_officer_id")),
            "alternate_project_officer": _ref(get("opre_alt_project_officer_id")),
        })
