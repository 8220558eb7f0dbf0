"""Which portfolio a CAN belongs to, from its description, through a curated lookup table.

The table is ``portfolio_lookup.csv`` beside this module: stakeholders review it as data. A
description that is not in the table (or maps to an empty portfolio) has no known portfolio: the
CAN is still created and reported as needing a decision, never silently assigned.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from typing import NamedTuple


class Portfolio(NamedTuple):
    abbreviation: str
    name: str
    division: str


#: The seeded portfolios: abbreviation, name, division abbreviation.
SEEDED_PORTFOLIOS = (
    Portfolio("CWR", "Child Welfare Research", "DCFD"),
    Portfolio("HS", "Head Start Research", "DCFD"),
    Portfolio("CC", "Child Care Research", "DCFD"),
    Portfolio("WR", "Welfare Research", "DECONI"),
    Portfolio("ADR", "Adolescent Development Research", "DFS"),
    Portfolio("HMRF", "Healthy Marriage & Responsible Fatherhood Research", "DFS"),
    Portfolio("HV", "Home Visiting Research", "DFS"),
    Portfolio("OCDO", "OCDO Portfolio", "OCDO"),
    Portfolio("OD", "OD Portfolio", "OD"),
    Portfolio("NON-OPRE", "Non-OPRE", "OD"),
)


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


@lru_cache(maxsize=1)
def lookup_table() -> dict[str, str | None]:
    """Normalised CAN description → portfolio abbreviation (None: known, but no portfolio)."""
    source = resources.files(__package__).joinpath("portfolio_lookup.csv")
    table: dict[str, str | None] = {}
    with source.open(encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            table[_normalise(record["can_description"])] = record["portfolio"].strip().upper() or None
    return table


def portfolio_for(can_description: str | None) -> str | None:
    """The portfolio abbreviation for a CAN description, or None when it needs a decision."""
    if not can_description:
        return None
    return lookup_table().get(_normalise(can_description))
