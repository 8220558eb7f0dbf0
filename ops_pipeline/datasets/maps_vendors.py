"""MAPS vendors export (``vendors.tsv``) → OPS ``vendor``.

MAPS.md §2 "vendors": SYS_VENDOR_ID is the vendor's OPS id (below 100), DUNS stays text with its
leading zeros (MAPS's loader cast it to an integer), STATUS is ACTIVE or INACTIVE (a blank one is
loaded as inactive, as MAPS's loader did, with a VALUE_COERCED warning; anything else is refused).

The vendor's head of contract, address, phone and e-mail (which MAPS's loader dropped) become the
vendor's OPS ``contact`` (type CONTRACT), associated with it in ``vendor_contacts``: the name is
split into first, middle and last names, a 10-digit phone number into area code and number.
They are PII: masked everywhere but the staged data and the database.
"""
from __future__ import annotations

import re
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
        col("ADDRESS", pii=True),
        col("HEAD_OF_CONTRACT", pii=True),
        col("PHONE_NBR", pii=True),
        col("EMAIL", pii=True),
        col("STATUS"),
        col("LAST_MODIFIED_DATE", unloaded="OPS records when it changed a vendor itself"),
        col("LAST_MODIFIED_BY", pii=True, unloaded="OPS records who changed a vendor itself"),
    )
    required_values = ("sys_vendor_id", "vendor_name")
    unique = ("sys_vendor_id",)
    entity_order = ("vendor", "contact")
    finding_codes = {
        "VENDOR_DUNS_REPEATED": (WARNING, "two vendors of the export have the same DUNS"),
    }

    def parse(self, p: Parse) -> dict:
        return {
            "sys_vendor_id": p.id("sys_vendor_id", "vendor"),
            "vendor_name": p.text("vendor_name"),
            "duns": p.text("duns"),
            "active": _active(p),
            "address": p.text("address"),
            "head_of_contract": p.text("head_of_contract"),
            "phone_nbr": p.text("phone_nbr"),
            "email": p.text("email"),
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
        if any(values.get(f) for f in ("address", "head_of_contract", "phone_nbr", "email")):
            first, middle, last = split_name(values.get("head_of_contract"))
            area, number = split_phone(values.get("phone_nbr"))
            yield {
                "entity": "contact",
                "key": {"id": values["sys_vendor_id"]},
                "values": {"first_name": first, "middle_name": middle, "last_name": last,
                           "address": values.get("address"), "phone_area_code": area, "phone_number": number,
                           "email": values.get("email"), "contact_type": "CONTRACT"},
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


#: a North American phone number: an optional +1, a 3-digit area code, 7 digits
_PHONE = re.compile(r"(?:\+?1[\s.-]*)?\(?(\d{3})\)?[\s.-]*(\d{3})[\s.-]*(\d{4})")


def split_name(name: str | None) -> tuple[str | None, str | None, str | None]:
    """HEAD_OF_CONTRACT as OPS's contact holds a name: (first, middle, last). ``Last, First`` is
    understood; one word is a last name; words between the first and the last are the middle name."""
    if not name:
        return None, None, None
    if "," in name:
        last, _, rest = name.partition(",")
        words = rest.split()
        last = last.strip() or None
    else:
        words = name.split()
        last = words.pop() if words else None
    first = words[0] if words else None
    middle = " ".join(words[1:]) or None
    return first, middle, last


def split_phone(phone: str | None) -> tuple[str | None, str | None]:
    """PHONE_NBR as OPS's contact holds it: (area code, number ``555-0101``) for a 10-digit North
    American number; any other text (an extension, a foreign number) is kept whole as the number."""
    if not phone:
        return None, None
    found = _PHONE.fullmatch(phone.strip())
    if found is None:
        return None, phone
    area, exchange, line = found.groups()
    return area, f"{exchange}-{line}"


def vendor_entities() -> tuple:
    from ..db import ops_models as m
    from ..db.entities import EntitySpec, Key

    vendor = EntitySpec("vendor", m.Vendor, Key(("id",), by_id="id"), fields=("name", "duns", "active"),
                        update="all")
    # The vendor's head of contract: the contact the vendor is associated with in vendor_contacts
    # (its first, if OPS has given it more), updated in place by later exports.
    contact = EntitySpec(
        "contact", m.Contact,
        Key(("id",), owned_by=("vendor", None), through=("vendor_contacts", "vendor_id", "contact_id")),
        fields=("first_name", "middle_name", "last_name", "address", "phone_area_code", "phone_number", "email",
                "contact_type"),
        update="all", label="vendor contact",
    )
    return vendor, contact
