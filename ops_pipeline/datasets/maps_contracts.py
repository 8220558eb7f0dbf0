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

from typing import Iterable

from ..db.entities import EntitySpec, Key, Link, Subtype, Unique
from ..db.ops_models import ENUMS
from .base import Problem
from ..maps import MapsDataset, col

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
        EntitySpec("iaa_customer_agency", m.IAACustomerAgency, Key(("id",)), insert=False,
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


#: The largest id OPS's integer ``maps_sys_id`` holds.
MAX_MAPS_ID = 2**31 - 1


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _ref(value, column: str = "id") -> dict | None:
    return {column: value} if value is not None else None


class MapsAgreementDataset(MapsDataset):
    """What the four MAPS agreement datasets share (no name: not a dataset itself)."""

    tier = 4
    entity_order = ("agreement",)
    #: OPS's agreement type, and the fields of the MAPS id and of the name
    agreement_type = ""
    id_field = ""
    name_field = ""
    finding_codes = {}

    def maps_id(self, p) -> int | None:
        """The agreement's own MAPS id: a whole number from 1 (agreements have no reserved range)."""
        value = p.integer(self.id_field)
        if value is not None and not 1 <= value <= MAX_MAPS_ID:
            p.problem("BAD_NUMBER", self.id_field, f"a MAPS id is a whole number from 1 to {MAX_MAPS_ID}",
                      value=value)
            return None
        return value

    def check_row(self, values: dict, state: dict):
        parsed, problems = super().check_row(values, state)
        name = parsed.get(self.name_field)
        if name is not None and not any(p.code in ("ROW_TRUNCATED", "missing-value") for p in problems):
            # OPS holds lower(name) unique per agreement type: two rows of one file cannot share a name.
            line = state.get("row")
            first = state.setdefault("agreement_names", {}).setdefault(name.lower(), line)
            if first != line:
                problems.append(Problem(
                    "KEY_DUPLICATE", f"{self.column(self.name_field).header} {name!r} is already on line {first}: "
                    f"OPS holds one {CALLED[self.agreement_type]} of a name (ignoring case)", self.name_field, name))
        return parsed, problems

    def spec(self) -> EntitySpec:  # pragma: no cover - each dataset gives its own
        raise NotImplementedError

    def entities(self) -> tuple:
        return (*reference_specs(), self.spec())

    def agreement(self, values: dict, fields: dict, links: dict) -> dict:
        return {"entity": "agreement",
                "key": {"agreement_type": self.agreement_type, "maps_sys_id": values[self.id_field]},
                "values": {"name": values[self.name_field], "agreement_type": self.agreement_type,
                           "maps_sys_id": values[self.id_field], **fields},
                "links": links}


class MapsContracts(MapsAgreementDataset):
    name = "maps-contracts"
    title = "MAPS contracts (contracts.tsv)"
    maps_type = "contracts"
    agreement_type = "CONTRACT"
    id_field = "sys_contract_id"
    name_field = "contract_name"
    columns = (
        col("CONTRACT_NAME", required=True),
        col("SYS_CONTRACT_ID", required=True),
        col("SYS_PROJECT_ID"),
        col("SYS_VENDOR_ID"),
        col("CONTRACT_NBR"),
        col("TASK_ORDER_NBR"),
        col("PO_NBR"),
        col("ACQUISITION_TYPE"),
        col("PSC_CODE"),
        col("CONTRACT_TYPE"),
        col("CONTRACT_START_DATE"),
        col("CONTRACT_END_DATE"),
        col("PSC_CONTRACT_SPECIALIST", pii=True),
        col("OPRE_COTR"),
        col("OPRE_PROJECT_OFFICER"),
        col("OPRE_ALT_PROJECT_OFFICER"),
    )
    required_values = ("contract_name", "sys_contract_id")
    unique = ("sys_contract_id",)

    def spec(self) -> EntitySpec:
        return contract_spec()

    def parse(self, p) -> dict:
        return {
            "contract_name": p.text("contract_name"),
            "sys_contract_id": self.maps_id(p),
            "sys_project_id": p.id("sys_project_id", "project"),
            "sys_vendor_id": p.id("sys_vendor_id", "vendor"),
            "contract_nbr": p.text("contract_nbr"),
            "task_order_nbr": p.text("task_order_nbr"),
            "po_nbr": p.text("po_nbr"),
            "acquisition_type": p.enum("acquisition_type", ENUMS["acquisitiontype"]),
            "psc_code": p.integer("psc_code"),
            "contract_type": p.enum("contract_type", ENUMS["contracttype"]),
            "contract_start_date": _iso(p.date("contract_start_date")),
            "contract_end_date": _iso(p.date("contract_end_date")),
            "psc_contract_specialist": p.text("psc_contract_specialist"),
            "opre_cotr": p.id("opre_cotr", "ops_user"),
            "opre_project_officer": p.id("opre_project_officer", "ops_user"),
            "opre_alt_project_officer": p.id("opre_alt_project_officer", "ops_user"),
        }

    def records(self, values: dict) -> Iterable[dict]:
        get = values.get
        yield self.agreement(values, {
            "start_date": get("contract_start_date"), "end_date": get("contract_end_date"),
            "contract_number": get("contract_nbr"), "task_order_number": get("task_order_nbr"),
            "po_number": get("po_nbr"), "acquisition_type": get("acquisition_type"),
            "contract_type": get("contract_type"), "psc_contract_specialist": get("psc_contract_specialist"),
        }, {
            "project": _ref(get("sys_project_id")),
            "product_service_code": _ref(get("psc_code"), "naics"),
            "project_officer": _ref(get("opre_project_officer")),
            "alternate_project_officer": _ref(get("opre_alt_project_officer")),
            "vendor": _ref(get("sys_vendor_id")),
            "cotr": _ref(get("opre_cotr")),
        })
