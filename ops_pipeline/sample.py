"""A realistic sample budget workbook, generated: the demo's input and the benchmark's.

Deterministic for a given seed. Besides clean rows in every accepted cell form it holds title
rows above the header, a blank row, a Placeholder row, a totals row and a note below the data,
and (with ``dirty=True``) one row for each kind of error the validator must catch.
"""
from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

CLASSIC_HEADERS = ["CAN", "Sys_Budget_ID", "Project Title", "CIG Name", "CIG Type", "Line Desc",
                   "Date Needed", "Amount", "PSCFee Amount", "Status", "Comments", "Total Bud Cur",
                   "All Bud Prev", "Delta"]
SNAKE_HEADERS = ["CAN", "SYS_BUDGET_ID", "PROJECT_TITLE", "CIG_NAME", "CIG_TYPE", "LINE_DESC",
                 "DATE_NEEDED", "AMOUNT", "PROC_FEE_AMOUNT", "STATUS", "COMMENTS", "EFFECTIVE_DATE",
                 "WHO_UPDATED", "FISCAL_YEAR"]

CANS = [
    ("G994648", "CC - SB - 5 YR"), ("G99HRF2", "OPRE-HMRF"), ("G99ABCD", "HS-TA"), ("G99MV22", "MHV-22"),
    ("G99WR01", "WR"), ("G99CC01", "CC"), ("G99HS05", "HS-5 YR"), ("G99OFA1", "OFA-WR"),
    ("G99SRAE", "SRAE Disc"), ("G99PREP", "PREP"), ("G99NODS", None), ("G99SSRD", "SSRD"),
]
# Each project draws on the CANs of its portfolio; Acquisition Services spans several (a question
# the report must raise, not answer).
PROJECTS = {
    "Child Care Research Partnerships": ["G994648", "G99CC01"],
    "Head Start Family and Child Experiences Survey": ["G99ABCD", "G99HS05"],
    "Healthy Marriage Evaluation": ["G99HRF2"],
    "Home Visiting Evidence of Effectiveness": ["G99MV22"],
    "Welfare Research Data Center": ["G99WR01", "G99OFA1"],
    "Adolescent Pregnancy Prevention Study": ["G99SRAE", "G99PREP"],
    "Building Evidence on Employment Strategies": ["G99NODS", "G99SSRD", "G99WR01"],
    "Acquisition Services": ["G99CC01", "G99ABCD", "G99HRF2"],
}
AGREEMENTS = [("Contract", "contract"), ("Grant Cohort", "grants"), ("IAA with Census", "IAA"),
              ("Direct Obligation", "DO"), ("Assisted Acquisition", "AA")]
STATUSES = ["OPRE - CURRENT", "PSC - EXECUTING", "obligated", "Planned", "draft", "in_execution", "OBL"]
PEOPLE = ["Jordan Alvarez", "Sam Okafor", "Riley Chen", "Taylor Brooks", "Morgan Patel"]

DIRTY = [
    # (field, bad value, expected finding code)
    ("amount", "$ 234,1552,303.08", "bad-amount"),
    ("agreement_type", "Con tract", "unknown-agreement-type"),
    ("can", "G99 AB", "bad-can"),
    ("can", "1234567", "bad-can"),
    ("status", "Pending review", "unknown-status"),
    ("date_needed", "31/31/2025", "bad-date"),
]


def _serial(day: dt.date) -> int:
    return (day - dt.date(1899, 12, 30)).days


def sample_rows(rows: int = 300, seed: int = 7, dirty: bool = True) -> list[list]:
    """The data rows (without title, header, totals), as cell values in CLASSIC_HEADERS order."""
    rng = random.Random(seed)
    out: list[list] = []
    dirty_at = {}
    if dirty and rows >= 40:
        step = rows // (len(DIRTY) + 3)
        dirty_at = {step * (i + 1): spec for i, spec in enumerate(DIRTY)}
    # Each seed its own range of ids: two sample workbooks are two offices' lines, not the same
    # lines with other contents.
    next_id = 15000 + 1000 * ((seed - 7) % 1000)  # the default seed starts where OPS does
    for index in range(rows):
        project = rng.choice(list(PROJECTS))
        number = rng.choice(PROJECTS[project])
        description = dict(CANS)[number]
        can = f"{number} ({description})" if description else number
        if description and rng.random() < 0.2:
            can = f"{number}({'  ' + description + '  '})"
        name, kind = rng.choice(AGREEMENTS)
        agreement_name = f"{project[:24].strip()} {name}"
        day = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 700))
        form = rng.random()
        date_cell = day if form < 0.6 else _serial(day) if form < 0.75 else (
            f"{day.month}/{day.day}/{day.year % 100}" if form < 0.9 else day.isoformat())
        cents = rng.randrange(100_00, 2_500_000_00)
        amount_value = cents / 100
        form = rng.random()
        if form < 0.7:
            amount = amount_value
        elif form < 0.9:
            amount = f"$ {amount_value:,.2f}"
        else:
            amount = f"({amount_value:,.2f})"
        fee = round(amount_value * 0.05, 2) if rng.random() < 0.5 else None
        budget_id: object = "new"
        if rng.random() < 0.6:
            budget_id, next_id = next_id, next_id + rng.randrange(1, 4)
        elif rng.random() < 0.5:
            budget_id = None
        person = rng.choice(PEOPLE)
        comment = rng.choice([None, f"Per {person}", f"Ask {person.split()[0].lower()}.{person.split()[1].lower()}@example.gov",
                              "Carry-over from FY24", None])
        if rng.random() < 0.03:
            project = "OPRE"
        row = [can, budget_id, project, agreement_name, kind.upper() if rng.random() < 0.3 else kind,
               f"{project.split()[0]} line {index + 1}", date_cell, amount, fee, rng.choice(STATUSES), comment,
               None, None, None]
        if index in dirty_at:
            field, bad, _ = dirty_at[index]
            position = {"amount": 7, "agreement_type": 4, "can": 0, "status": 9, "date_needed": 6}[field]
            row[position] = bad
        out.append(row)
    return out


#: The procurement shops of the current layout's sample (abbreviation, name, fee rate in percent), as
#: in OPS's own test fixture; :func:`seed_procurement_shops` puts them in a database that lacks them.
SHOPS = [("PSC", "Program Support Center", "0"), ("GCS", "Government Contracting Services", "0"),
         ("NIH", "National Institutes of Health", "0.5"), ("IBC", "Interior Business Center", "4.8")]
_CURRENT_TYPES = {"contract": "Contract", "grants": "Grant", "iaa": "IAA", "do": "Direct Obligation", "aa": "AA"}
_COMPONENTS = ["SC1", "SC1", "SC 2", "OSC3", "SC1.1", "Base Period 1", None]


def current_rows(rows: int = 300, seed: int = 7, dirty: bool = True) -> list[list]:
    """The sample's data rows in the current layout (budget_current.HEADERS order): the same
    lines as :func:`sample_rows`, with each line's portfolio, services component, fiscal year,
    procurement shop and a fee of SubTotal × the shop's rate. Every line is new (``new`` or
    blank): the current layout refuses a number OPS does not have."""
    from decimal import Decimal

    from .rules.current import expected_fee
    from .rules.dates import fiscal_year, from_serial, parse_date
    from .rules.money import parse_amount
    from .rules.portfolios import portfolio_for

    rng = random.Random(seed * 31 + 1)
    shop_of: dict = {}
    out = []
    for row in sample_rows(rows, seed, dirty):
        can, budget_id, project, name, kind, desc, date_cell, amount, _fee, status, comment = row[:11]
        description = can.split("(", 1)[1].rstrip(")").strip() if isinstance(can, str) and "(" in can else None
        try:
            day = parse_date(date_cell) if not isinstance(date_cell, int) else from_serial(date_cell)
            year: object = fiscal_year(day)
        except ValueError:
            year = None
        word = _CURRENT_TYPES.get(str(kind).lower(), kind)
        component = rng.choice(_COMPONENTS) if word == "Contract" else None
        # an agreement's lines name its one shop (a few leave it blank)
        if name not in shop_of:
            shop_of[name] = rng.choice(SHOPS) if rng.random() < 0.8 else (None, None, None)
        abbr, _, rate = shop_of[name] if rng.random() < 0.9 else (None, None, None)
        fee = None
        if abbr and rate != "0":
            try:
                fee = float(expected_fee(str(parse_amount(amount)), rate))
            except ValueError:
                fee = None
        out.append([None if budget_id is None else "new", portfolio_for(description) if description else None,
                    project, name, component, word, desc, date_cell, year, can, amount, abbr, fee,
                    float(Decimal(rate)) if abbr else None, status, comment])
    return out


def seed_procurement_shops(db_url: str) -> int:
    """Add the sample's procurement shops a database lacks (OPS starts without any); how many."""
    from sqlalchemy import select

    from .db import ops_models as m
    from .db.engine import make_engine

    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            have = set(conn.execute(select(m.ProcurementShop.abbr)).scalars())
            missing = [{"abbr": a, "name": n} for a, n, _ in SHOPS if a not in have]
            if missing:
                conn.execute(m.ProcurementShop.__table__.insert(), missing)
    finally:
        engine.dispose()
    return len(missing)


def write_sample_workbook(path: Path | str, rows: int = 300, seed: int = 7, *, dirty: bool = True,
                          headers: str = "classic", sheet: str = "All Budget - Cur", layout: str = "classic") -> Path:
    """Write the sample workbook; returns its path. ``layout="current"`` writes budget staff's
    current layout (datasets/budget_current.py), whose procurement shops the database must have
    (:func:`seed_procurement_shops`)."""
    if layout == "current":
        return _write_current(Path(path), rows, seed, dirty)
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import NamedStyle

    path = Path(path)
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    date_style = NamedStyle(name="date_needed", number_format="mm/dd/yyyy")
    book.add_named_style(date_style)
    header = CLASSIC_HEADERS if headers == "classic" else SNAKE_HEADERS
    ws.append(["OPRE Budget - Current Fiscal Year"])
    ws.append([f"Generated sample, seed {seed}; not real data"])
    ws.append([])
    ws.append(header)
    data = sample_rows(rows, seed, dirty)
    blank_at = len(data) // 2 if dirty and rows >= 40 else -1
    placeholder_at = len(data) // 3 if dirty and rows >= 40 else -1
    for index, row in enumerate(data):
        if index == blank_at:
            ws.append([])
        if index == placeholder_at:
            ws.append(["G99CC01 (CC)", "new", "Placeholder", "Placeholder", "contract", "Reserve", None,
                       50000, None, "draft", None])
        cells = []
        for position, value in enumerate(row):
            if isinstance(value, dt.date):
                cell = WriteOnlyCell(ws, value=value)
                cell.style = "date_needed"
                cells.append(cell)
            else:
                cells.append(value)
        ws.append(cells)
    ws.append([])
    ws.append(["Total", None, None, None, None, None, None, f"=SUM(H5:H{len(data) + 6})"])
    ws.append(["Note: amounts in dollars; contact the budget team with questions."])
    book.save(path)
    return path


def _write_current(path: Path, rows: int, seed: int, dirty: bool) -> Path:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import NamedStyle

    from .datasets.budget_current import HEADERS

    book = Workbook(write_only=True)
    ws = book.create_sheet("FY25 Budget")
    date_style = NamedStyle(name="obligate_by", number_format="mm/dd/yyyy")
    book.add_named_style(date_style)
    ws.append(["OPRE Budget - current layout"])
    ws.append([f"Generated sample, seed {seed}; not real data"])
    ws.append(list(HEADERS))
    data = current_rows(rows, seed, dirty)
    blank_at = len(data) // 2 if dirty and rows >= 40 else -1
    placeholder_at = len(data) // 3 if dirty and rows >= 40 else -1
    for index, row in enumerate(data):
        if index == blank_at:
            ws.append([])
        if index == placeholder_at:
            ws.append(["new", "CC", "Placeholder", "Placeholder", None, "Contract", "Reserve", None, None,
                       "G99CC01 (CC)", 50000, None, None, None, "draft", None])
        cells = []
        for value in row:
            if isinstance(value, dt.date):
                cell = WriteOnlyCell(ws, value=value)
                cell.style = "obligate_by"
                cells.append(cell)
            else:
                cells.append(value)
        ws.append(cells)
    ws.append([])
    ws.append(["Total", None, None, None, None, None, None, None, None, None, f"=SUM(K4:K{len(data) + 5})"])
    book.save(path)
    return path


def expected_counts(rows: int = 300, seed: int = 7, dirty: bool = True) -> dict:
    """What validation must find in the sample: used by tests, computed from the generator's plan."""
    planted = [spec[2] for spec in DIRTY] if dirty and rows >= 40 else []
    specials = 2 if dirty and rows >= 40 else 0  # the blank row inside the data, the Placeholder row
    return {
        "rejected": len(planted),
        "codes": sorted(set(planted)),
        "skipped_inside": specials,
        "valid": rows - len(planted),
    }
