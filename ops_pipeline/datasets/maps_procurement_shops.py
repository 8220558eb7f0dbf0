"""MAPS procurement shops export (``procurement_shops.tsv``) → OPS ``procurement_shop`` and
``procurement_shop_fee``.

MAPS.md §2 "procurement_shops": one row per fee period of a shop; a shop (exact NAME and
ABBREVIATION) can have several periods. FEE is a percent (0.5 means 0.5 %), stored as OPS stores
it. A blank FEE is loaded as 0, as MAPS's loader did, with a VALUE_COERCED warning. Periods of one
shop that overlap, and a period starting after it ends, are reported (warnings; OPS holds them as
MAPS has them).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterable, Iterator

from ..findings import WARNING
from ..maps import MapsDataset, Parse, col
from .base import Problem, TransformResult, row_ranges

#: The largest fee a percent can be.
MAX_FEE = Decimal(100)


class MapsProcurementShops(MapsDataset):
    name = "maps-procurement-shops"
    title = "MAPS procurement shops export"
    maps_type = "procurement_shops"
    tier = 2
    columns = (
        col("NAME", required=True),
        col("ABBREVIATION", required=True),
        col("FEE"),
        col("START_DATE"),
        col("END_DATE"),
    )
    required_values = ("name", "abbreviation")
    unique = (("name", "abbreviation", "start_date", "end_date"),)
    entity_order = ("procurement_shop", "procurement_shop_fee")
    finding_codes = {
        "PROCUREMENT_SHOP_FEE_OVERLAP": (WARNING, "two fee periods of one procurement shop overlap"),
        "PROCUREMENT_SHOP_FEE_REVERSED": (WARNING, "a fee period starts after it ends"),
    }

    def parse(self, p: Parse) -> dict:
        fee = p.money("fee")
        if fee is None and p.raw("fee") is None:
            p.problem("VALUE_COERCED", "fee", "FEE is blank: the fee is loaded as 0 % (as MAPS's loader did)")
            fee = Decimal("0.00")
        elif fee is not None and not (0 <= fee <= MAX_FEE):
            p.problem("BAD_NUMBER", "fee", f"FEE {fee} is not a percent between 0 and 100", value=str(fee))
            fee = None
        start, end = p.date("start_date"), p.date("end_date")
        if start is not None and end is not None and start > end:
            p.problem("PROCUREMENT_SHOP_FEE_REVERSED", "start_date",
                      f"the fee period starts on {start.isoformat()}, after its end on {end.isoformat()}",
                      value=start.isoformat())
        return {"name": p.text("name"), "abbreviation": p.text("abbreviation"), "fee": fee,
                "start_date": start, "end_date": end}

    def check_row(self, values: dict, state: dict) -> tuple[dict, list[Problem]]:
        parsed, problems = super().check_row(values, state)
        if parsed.get("name") is not None and parsed.get("abbreviation") is not None:
            problem = _overlap(parsed, state.setdefault("fee_periods", {}), state.get("row"))
            if problem is not None:
                problems.append(problem)
        return parsed, problems

    def records(self, values: dict) -> Iterable[dict]:
        shop = {"name": values["name"], "abbr": values["abbreviation"]}
        # staged values come back as JSON: dates as ISO text, the fee as text
        start, end = values["start_date"], values["end_date"]
        yield {"entity": "procurement_shop", "key": dict(shop), "values": dict(shop), "links": {}}
        yield {
            "entity": "procurement_shop_fee",
            "key": {"shop": dict(shop), "start_date": start, "end_date": end},
            "values": {"fee": str(values["fee"]), "start_date": start, "end_date": end},
            "links": {"shop": dict(shop)},
        }

    def transform(self, rows: Iterator[dict], context: dict) -> TransformResult:
        """As every MAPS dataset, except that a shop named on several lines (one per fee period)
        is one record whose lineage names them all: the load traces each record to its lines once."""
        result = super().transform(rows, context)

        def entities() -> Iterator[dict]:
            shops: dict[tuple, tuple[dict, list[int]]] = {}
            for record in result.entities:
                if record["entity"] != "procurement_shop":
                    yield record
                    continue
                key = (record["key"]["name"], record["key"]["abbr"])
                first = shops.setdefault(key, (record, []))
                first[1].append(int(record["lineage"]["rows"]))
            for record, lines in shops.values():
                record["lineage"] = dict(record["lineage"], rows=row_ranges(lines))
                yield record

        return TransformResult(entities=entities(), summary=result.summary)

    def entities(self) -> tuple:
        return shop_entities()


def _overlap(values: dict, periods: dict, line) -> Problem | None:
    """The period against the same shop's periods on earlier lines (MAPS's loader took overlapping
    periods without a word: DOD had two)."""
    start = values["start_date"] or dt.date.min
    end = values["end_date"] or dt.date.max
    shop = (values["name"], values["abbreviation"])
    found = None
    for other_start, other_end, other_line in periods.get(shop, ()):
        if start <= other_end and other_start <= end and (start, end) != (other_start, other_end):
            found = Problem("PROCUREMENT_SHOP_FEE_OVERLAP",
                            f"{shop[1]}'s fee period {_period(start, end)} overlaps its period "
                            f"{_period(other_start, other_end)} on line {other_line}", "start_date",
                            _period(start, end))
            break
    periods.setdefault(shop, []).append((start, end, line))
    return found


def _period(start: dt.date, end: dt.date) -> str:
    shown = lambda d: "open" if d in (dt.date.min, dt.date.max) else d.isoformat()  # noqa: E731
    return f"{shown(start)} to {shown(end)}"


def shop_entities() -> tuple:
    from ..db import ops_models as m
    from ..db.entities import EntitySpec, Key, Link

    shop = EntitySpec("procurement_shop", m.ProcurementShop, Key(("name", "abbr")), fields=("name", "abbr"),
                      update="never", label="procurement shop")
    fee = EntitySpec(
        "procurement_shop_fee", m.ProcurementShopFee,
        Key(("procurement_shop_id", "start_date", "end_date"), nullable=("start_date", "end_date"),
            via={"procurement_shop_id": "shop"}),
        fields=("fee", "start_date", "end_date"),
        links=(Link("shop", "procurement_shop", "procurement_shop_id", field="name", missing="reject"),),
        update="all", label="procurement shop fee",
    )
    return shop, fee
