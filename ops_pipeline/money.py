"""The money in a run: what was read, loaded, rejected and skipped, in dollars, and whether the
lines loaded add up to the workbook's own totals row.

A dataset declares its money (``Dataset.money``: the amount field, the status field and the date
field whose federal fiscal year groups amounts); this module reads the validate stage's files:

* **read**: every data row's amount that can be read as one (valid, rejected and skipped rows;
  not the totals row, which is not a line);
* **valid**: the valid rows'; **loaded**: the valid rows' less the rows the load refused
  (a load finding of severity error), once the load succeeded; None before;
* **rejected** / **skipped**: those rows' readable amounts (``unreadable`` counts the rejected
  rows whose amount is the problem);
* **by status** and **by fiscal year**: the valid rows' amounts (and the loaded part).

The totals row (a skipped row whose reason is ``totals row``) holds what the sender says the sheet
adds up to. When it holds a number, the loaded total (or, before a load, the valid total) is
compared with it; a difference is a ``totals-mismatch`` finding giving both figures and how much
of the gap the rejected and skipped rows explain. A totals row holding a formula that the workbook
saved without its value cannot be compared; the report says so.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from .findings import make_finding
from .rules.dates import fiscal_year
from .rundir import RunDir, read_json, read_jsonl

CENT = Decimal("0.01")
TOTALS_REASON = "totals row"


def dollars(amount: Decimal | str | None) -> str:
    """``$1,234.50``; ``-$5.00``; empty for None."""
    if amount is None:
        return ""
    value = Decimal(str(amount)).quantize(CENT)
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def _fiscal_year(day: object) -> int | None:
    """The federal fiscal year of a staged date (ISO text), None when it is not one."""
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day[:10])
        except ValueError:
            return None
    return fiscal_year(day) if isinstance(day, dt.date) else None


def _amount(parse, raw) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        value = parse(raw)
    except (ValueError, TypeError, ArithmeticError):
        return None
    try:
        return Decimal(str(value)).quantize(CENT) if value is not None else None
    except InvalidOperation:
        return None


def _parser(dataset, field: str):
    rules = getattr(dataset, "rules", None) or {}
    rule = rules.get(field)
    if rule is not None:
        return rule.parse
    return lambda raw: Decimal(str(raw))


def money_summary(run: RunDir, dataset, *, loaded: bool, refused_rows: set[int] = frozenset()) -> dict | None:
    """The run's money (see the module), or None when the dataset has none or validate has not run.

    Amounts are strings with two places (JSON keeps them exact)."""
    if not dataset.money:
        return None
    vdir = run.path / "validate"
    if not (vdir / "summary.json").exists():
        return None
    amount_field, status_field, date_field = dataset.money
    parse = _parser(dataset, amount_field)
    zero = Decimal("0.00")
    totals = {"read": zero, "valid": zero, "loaded": zero, "rejected": zero, "skipped": zero}
    by_status: dict[str, dict] = {}
    by_year: dict[str, dict] = {}
    # Summed per (status, date, loaded) first: a 100,000-line sheet has a few hundred such groups,
    # and a fiscal year is worked out once per date, not once per line.
    groups: dict[tuple, list] = {}
    quantize, invalid = Decimal.quantize, (ValueError, TypeError, ArithmeticError)
    for record in read_jsonl(vdir / "valid_rows.jsonl"):
        values = record.get("values") or {}
        raw = values.get(amount_field)
        if raw is None or raw == "":
            continue
        try:
            amount = quantize(Decimal(raw), CENT)  # as _amount(Decimal, raw): a float is taken exactly
        except invalid:
            continue
        counted = loaded and record["row"] not in refused_rows
        day = values.get(date_field) if date_field else None
        # a staged date is ISO text; anything else has no fiscal year, as None has not
        key = (str(values.get(status_field) or "(none)") if status_field else None,
               day if day.__class__ is str else None, counted)
        group = groups.get(key)
        if group is None:
            groups[key] = [1, amount]
        else:
            group[0] += 1
            group[1] += amount
    years: dict = {}
    for (status, day, counted), (lines, amount) in groups.items():
        totals["valid"] += amount
        totals["loaded"] += amount if counted else zero
        tables = []
        if status_field:
            tables.append((by_status, status))
        if date_field:
            if day not in years:
                year = _fiscal_year(day)
                years[day] = f"FY{year}" if year else "(no date)"
            tables.append((by_year, years[day]))
        for table, name in tables:
            entry = table.setdefault(name, {"lines": 0, "valid": zero, "loaded": zero})
            entry["lines"] += lines
            entry["valid"] += amount
            entry["loaded"] += amount if counted else zero
    unreadable = 0
    for record in read_jsonl(vdir / "rejected.jsonl"):
        amount = _amount(parse, (record.get("values") or {}).get(amount_field))
        if amount is None:
            unreadable += 1
            continue
        totals["rejected"] += amount
    totals_rows = []
    for record in read_jsonl(vdir / "skipped.jsonl"):
        if record.get("reason") == TOTALS_REASON:
            totals_rows.append(record)
            continue
        amount = _amount(parse, record.get("amount"))
        if amount is not None:
            totals["skipped"] += amount
    totals["read"] = totals["valid"] + totals["rejected"] + totals["skipped"]
    summary = read_json(vdir / "summary.json")
    column = (summary.get("columns") or {}).get(amount_field)
    result = {
        "field": amount_field,
        "read": str(totals["read"]),
        "valid": str(totals["valid"]),
        "loaded": str(totals["loaded"]) if loaded else None,
        "rejected": str(totals["rejected"]),
        "skipped": str(totals["skipped"]),
        "unreadable_rejected": unreadable,
        "by_status": {k: _text(v) for k, v in sorted(by_status.items())},
        "by_fiscal_year": {k: _text(v) for k, v in sorted(by_year.items())},
        "reconciliation": _reconcile(totals_rows, totals, loaded, parse, summary.get("sheet"), column),
    }
    return result


def _text(entry: dict) -> dict:
    return {"lines": entry["lines"], "valid": str(entry["valid"]), "loaded": str(entry["loaded"])}


def _reconcile(rows: list[dict], totals: dict, loaded: bool, parse, sheet: str | None,
               column: str | None) -> dict | None:
    if not rows:
        return None
    row = rows[-1]  # the last totals row is the grand total
    compared = "loaded" if loaded else "valid"
    ours = totals[compared]
    cell = f"{sheet}!{column or ''}{row['row']}" if sheet else None
    stated = _amount(parse, row.get("amount"))
    if stated is None:
        return {"status": "no-value", "row": row["row"], "cell": cell, "compared": compared,
                "message": f"the totals row (row {row['row']}) holds no amount this tool can read (a formula "
                           "saved without its value?): nothing to reconcile with"}
    difference = stated - ours
    entry = {"status": "matches" if difference == 0 else "mismatch", "row": row["row"], "cell": cell,
             "compared": compared, "workbook_total": str(stated), "pipeline_total": str(ours),
             "difference": str(difference)}
    if difference == 0:
        entry["message"] = f"the lines {compared} add up to the totals row's {dollars(stated)}"
        return entry
    explained = totals["rejected"] + totals["skipped"] + (totals["valid"] - totals["loaded"] if loaded else 0)
    entry["explained"] = difference == explained
    entry["message"] = (f"the workbook's totals row says {dollars(stated)}; the lines {compared} add up to "
                        f"{dollars(ours)} (difference {dollars(difference)}"
                        + ("; the rejected and skipped rows account for it exactly)" if entry["explained"] else
                           f"; rejected rows {dollars(totals['rejected'])}, skipped {dollars(totals['skipped'])})"))
    return entry


def mismatch_finding(reconciliation: dict | None, codes: dict, sheet: str | None, column: str | None) -> dict | None:
    """The ``totals-mismatch`` finding of a reconciliation that does not match, as a dict."""
    if not reconciliation or reconciliation["status"] != "mismatch":
        return None
    finding = make_finding("totals-mismatch", reconciliation["message"],
                           value=dollars(reconciliation["workbook_total"]), codes=codes, sheet=sheet,
                           row=reconciliation["row"], column=column)
    return finding.as_dict()
