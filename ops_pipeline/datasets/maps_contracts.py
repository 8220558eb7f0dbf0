"""MAPS contracts (``contracts.tsv``) into OPS's ``agreement`` + ``contract_agreement``; and what the
four MAPS agreement datasets share (grants, IAAs and direct obligations import it from here).

**Key.** A MAPS agreement is the OPS agreement with the same ``(agreement_type, maps_sys_id)``:
MAPS numbers each agreement table from 1, so the MAPS id alone is not unique, and agreements have
no reserved id range (MAPS.md §1). Direct obligations are keyed the same way (never by OPS's id,
as upstream's later loader does). A blank MAPS id is refused: it would match nothing on a rerun
(upstream looks up ``maps_sys_id IS NULL`` and overwrites an agreement created in OPS).

**Name.** OPS holds ``(lower(name), agreement_type)`` unique. A row whose name and type another
agreement already has (one created in OPS, whose ``maps_sys_id`` is empty, or another MAPS
agreement) is refused with ``KEY_COLLISION`` before anything is written, never overwritten and
never left to the database's error.

**References.** Every reference of an agreement (project, vendor, officers, COTR, PSC, customer
agency) is to a nullable column: one OPS does not have is a ``REF_UNRESOLVED`` warning naming its
cell, and the agreement loads without it (a later run that finds it fills it in).

**Updates.** A value given replaces the stored one (``UPDATE_AGREEMENT`` in OPS's history); a
blank cell keeps what OPS has (upstream's full replace would wipe a value an OPS user entered
after the first migration).

:func:`maps_agreement_spec` is the agreement as the budget-line datasets look it up.
"""
from __future__ import annotations

from ..db.entities import EntitySpec, Key, Link, Subtype, Unique

#: MAPS agreement type -> what people call it (the label in findings)
CALLED = {"CONTRACT": "contract", "GRANT": "grant", "IAA": "IAA", "DIRECT_OBLIGATION": "direct obligation"}

#: The finding code of a row whose name and type another agreement holds.
KEY_COLLISION = "KEY_COLLISION"
REF_UNRESOLVED = "REF_UNRESOLVED"


def _models():
    from ..db import ops_models as m

    return m


def _subtype(columns: dict[str, tuple[str, ...]] | None = None) -> Subtype:
    m = _models()
    return Subtype(
        "agreement_type",
        {"CONTRACT": m.ContractAgreement, "GRANT": m.GrantAgreement, "IAA": m.IaaAgreement,
         "DIRECT_OBLIGATION": m.DirectAgreement, "AA": m.AaAgreement},
        value="agreement_type",
        # MAPS IAAs are all outgoing (OPRE buys from the other agency)
        defaults={"CONTRACT": {"delivered_status": False}, "IAA": {"direction": "OUTGOING"}},
        columns=columns or {},
    )


def maps_agreement_spec() -> EntitySpec:
    """The agreement a MAPS budget line belongs to, looked up by ``(agreement_type, maps_sys_id)``:
    link to it with ``Link("agreement", "agreement", "agreement_id", missing="reject", ...)`` and
    stage the link as ``{"agreement_type": "CONTRACT", "maps_sys_id": 3}``. A reference only: the
    budget-line datasets never write agreements."""
    m = _models()
    return EntitySpec("agreement", m.Agreement, Key(("agreement_type", "maps_sys_id")), subtype=_subtype(),
                      insert=False)


def reference_specs() -> tuple[EntitySpec, ...]:
    """What MAPS agreements refer to, looked up by their MAPS (= OPS) id, never written here."""
    m = _models()
    return (
        EntitySpec("project", m.Project, Key(("id",)), insert=False),
        EntitySpec("user", m.User, Key(("id",)), insert=False),
        EntitySpec("vendor", m.Vendor, Key(("id",)), insert=False),
        EntitySpec("iaa_customer_agency", m.IaaCustomerAgency, Key(("id",)), insert=False,
                   label="IAA customer agency"),
        EntitySpec("product_service_code", m.ProductServiceCode, Key(("naics",)), insert=False,
                   label="product service code (NAICS)"),
    )


def reference(name: str, target: str, column: str, field: str) -> Link:
    """An optional reference: unresolved, it is a REF_UNRESOLVED warning and the row loads without it."""
    return Link(name, target, column, field=field, code=REF_UNRESOLVED)


def agreement_spec(agreement_type: str, *, name_field: str, fields: tuple[str, ...] = (),
                   links: tuple[Link, ...] = (), subtype_columns: tuple[str, ...] = ()) -> EntitySpec:
    """The agreement one MAPS agreement dataset writes: ``fields`` beyond name, type and MAPS id,
    ``links`` (optional references), and which of those columns ``contract_agreement`` etc. hold."""
    m = _models()
    return EntitySpec(
        "agreement", m.Agreement, Key(("agreement_type", "maps_sys_id")),
        fields=("name", "agreement_type", "maps_sys_id", *fields),
        links=links,
        subtype=_subtype({agreement_type: subtype_columns} if subtype_columns else None),
        update="given",
        defaults={"notes": ""},
        label=CALLED[agreement_type],
        unique=(Unique(("name", "agreement_type"), folded=("name",), code=KEY_COLLISION, field=name_field),),
    )


def contract_spec() -> EntitySpec:
    return agreement_spec(
        "CONTRACT", name_field="contract_name",
        fields=("start_date", "end_date", "contract_number", "task_order_number", "po_number", "acquisition_type",
                "contract_type", "psc_contract_specialist"),
        links=(reference("project", "project", "project_id", "sys_project_id"),
               reference("product_service_code", "product_service_code", "product_service_code_id", "psc_code"),
               reference("project_officer", "user", "project_officer_id", "opre_project_officer"),
               reference("alternate_project_officer", "user", "alternate_project_officer_id",
                         "opre_alt_project_officer"),
               reference("vendor", "vendor", "vendor_id", "sys_vendor_id"),
               reference("cotr", "user", "cotr_id", "opre_cotr")),
        subtype_columns=("contract_number", "task_order_number", "po_number", "acquisition_type", "contract_type",
                         "psc_contract_specialist", "vendor_id", "cotr_id"),
    )
