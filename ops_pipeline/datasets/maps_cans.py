"""MAPS CANs export (``cans.tsv``) → OPS ``can`` and its ``can_funding_details`` (1:1).

MAPS.md §2 "cans":

- the CAN is SYS_CAN_ID (its OPS id, below 500), or CAN_NBR when the id is blank;
- PORTFOLIO is one of OPS's seeded portfolio abbreviations (any case; an unknown one is refused);
  a new CAN needs one, a blank one keeps a stored CAN's portfolio;
- the funding details come from FUND (14 characters: characters 7-10 the fiscal year, 11 one of
  0 1 2 3 5 8, 12 D or R, 13 A B or C, 14 D or M), ALLOWANCE, ALLOTMENT_ORG, SUB_ALLOWANCE, the
  appropriation ``PREFIX-YEAR-POSTFIX`` (blanks kept), METHOD_OF_TRANSFER (upper-cased), FUNDING_SOURCE
  (exact, or ``ACF - MOU``) and FUNDING_PARTNER. A malformed FUND, or a new CAN without a method of
  transfer or a funding source, leaves the CAN without funding details (CAN_NO_FUNDING_DETAILS, as
  MAPS's loader did silently);
- on a stored CAN a blank description wipes the stored one; a blank nick name, portfolio, method,
  source or partner keeps it;
- CURRENT_FY_FUNDING_YTD is reported, not loaded (OPS has no column for it);
- issue #3296's advisory: a funding source OPRE or ACF_MOU goes with the method DIRECT (a warning).
"""
from __future__ import annotations

from typing import Iterable

from ..db import ops_models, ops_reference
from ..findings import WARNING
from ..maps import MapsDataset, col

METHODS = ops_models.ENUMS["canmethodoftransfer"]
SOURCES = ops_models.ENUMS["canfundingsource"]
#: The seeded portfolios a CAN can belong to, by abbreviation.
PORTFOLIOS = tuple(abbr for _id, _name, abbr, *_ in ops_reference.PORTFOLIOS)
#: The longest CAN number OPS stores (can.number is character varying(30)).
MAX_NUMBER = ops_models.CAN.__table__.c.number.type.length
#: Funding sources that go with the method DIRECT (issue #3296).
DIRECT_SOURCES = ("OPRE", "ACF_MOU")


def fund_code_problem(fund: str) -> str | None:
    """Why a FUND is not a fund code MAPS's loader takes, or None."""
    if len(fund) != 14:
        return f"it has {len(fund)} characters, not 14"
    if not fund[6:10].isdigit():
        return f"characters 7-10 ({fund[6:10]!r}) are not a year"
    for at, allowed, what in ((10, "012358", "the length of appropriation"), (11, "DR", "direct or reimbursable"),
                              (12, "ABC", "the category"), (13, "DM", "discretionary or mandatory")):
        if fund[at] not in allowed:
            return f"character {at + 1} ({what}) is {fund[at]!r}, not one of {', '.join(allowed)}"
    return None


class MapsCans(MapsDataset):
    name = "maps-cans"
    title = "MAPS CANs export"
    maps_type = "cans"
    tier = 3
    columns = (
        col("FISCAL_YEAR", required=True),
        col("CAN_NBR", required=True),
        col("FUND", required=True),
        col("PORTFOLIO", required=True),
        col("SYS_CAN_ID"),
        col("CAN_DESCRIPTION"),
        col("ALLOWANCE"),
        col("ALLOTMENT_ORG"),
        col("SUB_ALLOWANCE"),
        col("CURRENT_FY_FUNDING_YTD", unloaded="OPS has no column for a CAN's funding to date "
                                               "(MAPS's loader read it and dropped it)"),
        col("APPROP_PREFIX"),
        col("APPROP_YEAR"),
        col("APPROP_POSTFIX"),
        col("FUNDING_SOURCE"),
        col("METHOD_OF_TRANSFER"),
        col("NICK_NAME"),
        col("FUNDING_PARTNER"),
    )
    required_values = ("fiscal_year", "can_nbr")
    unique = ("can_nbr", "sys_can_id")
    entity_order = ("can_funding_details", "can")
    finding_codes = {
        "CAN_SOURCE_METHOD_ADVISORY": (WARNING, "a funding source OPRE or ACF MOU without the method DIRECT "
                                                "(issue #3296's advisory)"),
        "CAN_NO_PORTFOLIO": (WARNING, "a CAN OPS does not have and whose PORTFOLIO is blank is not created"),
    }

    def parse(self, p) -> dict:
        number = p.text("can_nbr")
        if number is not None and len(number) > MAX_NUMBER:
            p.problem("too-long", "can_nbr", f"CAN_NBR has {len(number)} characters; OPS stores {MAX_NUMBER}",
                      value=number)
        method = p.enum("method_of_transfer", METHODS, upper=True)
        source = p.enum("funding_source", SOURCES, aliases={"ACF - MOU": "ACF_MOU"})
        if source in DIRECT_SOURCES and method is not None and method != "DIRECT":
            p.problem("CAN_SOURCE_METHOD_ADVISORY", "method_of_transfer",
                      f"funding source {source} goes with the method DIRECT, not {method} (issue #3296)", value=method)
        fund = p.text("fund")
        if fund is None:
            p.problem("CAN_NO_FUNDING_DETAILS", "fund", "FUND is blank: the CAN is loaded without funding details")
        else:
            why = fund_code_problem(fund)
            if why is not None:
                p.problem("CAN_NO_FUNDING_DETAILS", "fund",
                          f"FUND {fund!r} is not a fund code ({why}): the CAN is loaded without funding details",
                          value=fund)
                fund = None
        parts = [p.text("approp_prefix"), p.text("approp_year"), p.text("approp_postfix")]
        return {
            "fiscal_year": p.integer("fiscal_year"),
            "can_nbr": number,
            "sys_can_id": p.id("sys_can_id", "can"),
            "portfolio": p.enum("portfolio", PORTFOLIOS, upper=True),
            "can_description": p.text("can_description"),
            "nick_name": p.text("nick_name"),
            "fund": fund,
            "allowance": p.text("allowance"),
            "allotment_org": p.text("allotment_org"),
            "sub_allowance": p.text("sub_allowance"),
            "appropriation": "-".join(part or "" for part in parts),
            "method_of_transfer": method,
            "funding_source": source,
            "funding_partner": p.text("funding_partner"),
        }

    def records(self, values: dict) -> Iterable[dict]:
        number, portfolio, fund = values["can_nbr"], values["portfolio"], values["fund"]
        links = {}
        if portfolio is not None:
            links["portfolio"] = {"abbreviation": portfolio}
        if fund is not None:
            details = {"fiscal_year": int(fund[6:10]), "fund_code": fund, "allowance": values["allowance"],
                       "sub_allowance": values["sub_allowance"], "allotment": values["allotment_org"],
                       "appropriation": values["appropriation"], "portfolio": portfolio}
            # a blank method, source or partner keeps a stored one: left out, not emptied
            for name in ("method_of_transfer", "funding_source", "funding_partner"):
                if values[name] is not None:
                    details[name] = values[name]
            # keyed as the CAN is: its id when MAPS gives one (the stored CAN, renamed or not), else its number
            yield {"entity": "can_funding_details", "key": {"number": number, "id": values["sys_can_id"]},
                   "values": details, "links": {}}
            links["funding_details"] = {"number": number}
        can = {"number": number, "description": values["can_description"]}
        if values["nick_name"] is not None:
            can["nick_name"] = values["nick_name"]
        yield {"entity": "can", "key": {"number": number, "id": values["sys_can_id"]}, "values": can,
               "links": links}

    def entities(self) -> tuple:
        return can_entities()


def can_entities() -> tuple:
    from ..db import ops_models as m
    from ..db.entities import EntitySpec, Key, Link, Unique

    portfolio = EntitySpec("portfolio", m.Portfolio, Key(("abbreviation",), folded=("abbreviation",)),
                           insert=False)
    details = EntitySpec(
        "can_funding_details", m.CANFundingDetails, Key(("number",), owned_by=("can", "funding_details_id")),
        fields=("fiscal_year", "fund_code", "allowance", "sub_allowance", "allotment", "appropriation",
                "method_of_transfer", "funding_source", "funding_partner"),
        not_loaded={"portfolio": "loaded on the CAN, not on its funding details: a new CAN without one is not "
                                 "created, and neither are its funding details"},
        create_requires=("method_of_transfer", "funding_source", "portfolio"),
        create_code="CAN_NO_FUNDING_DETAILS",
        update="all", label="funding details of CAN",
    )
    can = EntitySpec(
        "can", m.CAN, Key(("number",), by_id="id", signature=("number",)),
        fields=("number", "description", "nick_name"),
        links=(Link("portfolio", "portfolio", "portfolio_id", field="portfolio", code="CAN_NO_PORTFOLIO",
                    explain="OPS needs a portfolio for every CAN", create_requires=True, missing="reject"),
               Link("funding_details", "can_funding_details", "funding_details_id", field="fund", missing="ignore")),
        # a number OPS holds for another CAN (an id OPS lacks, or a rename) is refused, never left
        # to the database's unique constraint
        unique=(Unique(("number",), code="KEY_COLLISION", field="can_nbr"),),
        update="given", blank_replaces=("description",), label="CAN",
    )
    return portfolio, details, can
