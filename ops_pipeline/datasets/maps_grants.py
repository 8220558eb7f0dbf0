"""MAPS grants (``grants.tsv``) into OPS's ``agreement`` + ``grant_agreement``.

As the other MAPS agreements (:mod:`.maps_contracts`): keyed by ``('GRANT', SYS_GRANTS_ID)``; the
project and officers are optional references (REF_UNRESOLVED, loaded without them: upstream
nulls them silently); a blank cell on a rerun keeps OPS's value. MAPS writes grant dates with a
time of day (``2021-09-30 00:00:00``) and only that form is read: a plain date is a finding.
"""
from __future__ import annotations

from ..db.entities import EntitySpec
from .maps_contracts import agreement_spec, reference


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
