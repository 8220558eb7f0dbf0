"""MAPS direct obligations (``direct_obligations.tsv``) into OPS's ``agreement`` + ``direct_agreement``.

As the other MAPS agreements (:mod:`.maps_contracts`): keyed by
``('DIRECT_OBLIGATION', SYS_DIRECT_OBLIGATION_ID)`` in ``maps_sys_id``, never by OPS's id (upstream's
later loader writes the MAPS id into ``agreement.id``, where it collides with OPS's sequence); the
project is an optional reference (REF_UNRESOLVED, loaded without it).
"""
from __future__ import annotations

from ..db.entities import EntitySpec
from .maps_contracts import agreement_spec, reference


def direct_obligation_spec() -> EntitySpec:
    return agreement_spec(
        "DIRECT_OBLIGATION", name_field="direct_obligation_name",
        links=(reference("project", "project", "project_id", "sys_project_id"),),
    )
