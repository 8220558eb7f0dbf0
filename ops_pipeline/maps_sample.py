"""A generated MAPS export set: the fourteen files of MAPS.md §2, consistent with each other.

For the benchmark (``scripts/bench.py --maps``: 100,000 budget lines over the four kinds plus
their parents) and for tests that need a set of a given size. Every value is one the datasets
take as it is (seeded divisions, roles and portfolios; valid fund codes; dates in each file's
format), so a clean set migrates without a finding; ids are MAPS's (users, vendors, agencies,
CANs and projects inside their reserved ranges). Budget-line ids run from 1 across the four
kinds: beyond 14,999 lines they leave OPS's reserved range, so a set that large only loads with
the range lifted (the benchmark does).

No real person or organisation: names are made up, e-mail addresses are at example.gov.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

from .rundir import atomic_write

#: MAPS.md §2's columns, in the order the generated files have them.
COLUMNS: dict[str, tuple[str, ...]] = {
    "users.tsv": ("SYS_USER_ID", "EMAIL", "FIRST_NAME", "LAST_NAME", "DIVISION", "STATUS", "ROLES"),
    "projects.tsv": ("SYS_PROJECT_ID", "PROJECT_TITLE", "PROJECT_TYPE", "PROJECT_SHORT_TITLE", "PROJECT_DESCRIPTION"),
    "vendors.tsv": ("SYS_VENDOR_ID", "VENDOR_NAME", "DUNS", "ADDRESS", "HEAD_OF_CONTRACT", "PHONE_NBR", "EMAIL",
                    "STATUS", "LAST_MODIFIED_DATE", "LAST_MODIFIED_BY"),
    "iaa_agency.tsv": ("SYS_IAA_CUSTOMER_AGENCY_ID", "CUSTOMER_AGENCY_NAME", "OBJECT_CLASS_CODE",
                       "CUSTOMER_AGENCY_NBR", "CUSTOMER_DUNS"),
    "procurement_shops.tsv": ("NAME", "ABBREVIATION", "FEE", "START_DATE", "END_DATE"),
    "cans.tsv": ("SYS_CAN_ID", "FISCAL_YEAR", "CAN_NBR", "CAN_DESCRIPTION", "FUND", "ALLOWANCE", "ALLOTMENT_ORG",
                 "SUB_ALLOWANCE", "CURRENT_FY_FUNDING_YTD", "APPROP_PREFIX", "APPROP_YEAR", "APPROP_POSTFIX",
                 "METHOD_OF_TRANSFER", "FUNDING_SOURCE", "NICK_NAME", "PORTFOLIO", "FUNDING_PARTNER"),
    "contracts.tsv": ("SYS_CONTRACT_ID", "CONTRACT_NAME", "SYS_PROJECT_ID", "SYS_VENDOR_ID", "CONTRACT_NBR",
                      "TASK_ORDER_NBR", "PO_NBR", "ACQUISITION_TYPE", "PSC_CODE", "CONTRACT_TYPE",
                      "CONTRACT_START_DATE", "CONTRACT_END_DATE", "PSC_CONTRACT_SPECIALIST", "OPRE_COTR",
                      "OPRE_PROJECT_OFFICER", "OPRE_ALT_PROJECT_OFFICER"),
    "grants.tsv": ("SYS_GRANTS_ID", "GRANTS_TITLE", "SYS_PROJECT_ID", "OPRE_PROJECT_OFFICER_ID",
                   "OPRE_ALT_PROJECT_OFFICER_ID", "FOA_NBR", "TOTAL_FUNDING", "GRANTS_START_DATE", "GRANTS_END_DATE",
                   "NUMBER_OF_YEARS", "NUMBER_OF_GRANTS"),
    "iaas.tsv": ("SYS_IAA_ID", "IAA_NAME", "SYS_PROJECT_ID", "SYS_IAA_CUSTOMER_AGENCY_ID", "OPRE_POC", "AGENCY_POC"),
    "direct_obligations.tsv": ("SYS_DIRECT_OBLIGATION_ID", "DIRECT_OBLIGATION_NAME", "SYS_PROJECT_ID"),
}
_LINE = ("SYS_BUDGET_ID", "LINE_DESCRIPTION", "COMMENTS", "DATE_NEEDED", "SYS_CAN_ID", "AMOUNT", "STATUS",
         "OVERWRITE_PSC_FEE_RATE")
#: Budget-line files: their parent column, the agreement file it points to, and the kind's share.
BUDGET_LINES: dict[str, tuple[str, str, float]] = {
    "contract_budget_lines.tsv": ("SYS_CONTRACT_ID", "contracts.tsv", 0.50),
    "grant_budget_lines.tsv": ("SYS_GRANTS_ID", "grants.tsv", 0.25),
    "iaa_budget_lines.tsv": ("SYS_IAA_ID", "iaas.tsv", 0.15),
    "direct_obligation_budget_lines.tsv": ("SYS_DIRECT_OBLIGATION_ID", "direct_obligations.tsv", 0.10),
}
for _name, (_parent, _, _) in BUDGET_LINES.items():
    COLUMNS[_name] = (_LINE[0], _parent, *_LINE[1:])

DIVISIONS = ("CC", "DECONI", "OD", "DCFD", "DFS", "DDI", "DDP", "OCDO", "OTHER")
ROLES = ("VIEWER_EDITOR", "BUDGET_TEAM", "REVIEWER_APPROVER", "PROCUREMENT_TEAM")
PORTFOLIOS = ("CWR", "HS", "CC", "WR", "ADR", "HMRF", "HV", "OCDO", "OD", "NON-OPRE")
STATUSES = ("DRAFT", "PLANNED", "IN_EXECUTION", "OBLIGATED")
#: Shops with their fee periods (percent), NIH and DOD with several as MAPS has them.
SHOPS = (
    ("Product Service Center", "PSC", "0", "2020-10-01", ""),
    ("Government Contracting Services", "GCS", "0", "2020-10-01", ""),
    ("National Institutes of Health", "NIH", "0.5", "2019-10-01", "2021-09-30"),
    ("National Institutes of Health", "NIH", "1", "2021-10-01", "2023-09-30"),
    ("National Institutes of Health", "NIH", "1.5", "2023-10-01", ""),
    ("Interior Business Center", "IBC", "4.8", "2020-10-01", ""),
    ("Department of Defense", "DOD", "2", "2020-10-01", "2022-09-30"),
    ("Department of Defense", "DOD", "2.5", "2022-10-01", ""),
)


def export_counts(budget_lines: int) -> dict[str, int]:
    """How many records each parent file gets for a set of ``budget_lines`` lines: parents grow
    with the lines, inside MAPS's reserved id ranges."""
    n = max(4, int(budget_lines))

    def between(value: int, low: int, high: int) -> int:
        return max(low, min(high, value))

    return {"users.tsv": between(n // 250, 5, 450), "projects.tsv": between(n // 120, 3, 900),
            "vendors.tsv": between(n // 1200, 2, 90), "iaa_agency.tsv": between(n // 1200, 2, 90),
            "procurement_shops.tsv": len(SHOPS), "cans.tsv": between(n // 250, 3, 450),
            "contracts.tsv": max(2, n // 50), "grants.tsv": max(1, n // 100), "iaas.tsv": max(1, n // 200),
            "direct_obligations.tsv": max(1, n // 200)}


def write_maps_export(folder: Path | str, *, budget_lines: int = 1000, seed: int = 11,
                      only: tuple[str, ...] | None = None) -> dict[str, int]:
    """Write the export set's files into ``folder`` (created 0700; files 0600); return the rows
    written per file. ``only`` limits it to those file names (a test with the datasets it has)."""
    folder = Path(folder)
    rnd = random.Random(seed)
    counts = export_counts(budget_lines)
    users, projects, vendors = counts["users.tsv"], counts["projects.tsv"], counts["vendors.tsv"]
    agencies, cans = counts["iaa_agency.tsv"], counts["cans.tsv"]
    rows: dict[str, object] = {
        "users.tsv": (_user(i, rnd) for i in range(1, users + 1)),
        "projects.tsv": (_project(i, rnd) for i in range(1, projects + 1)),
        "vendors.tsv": (_vendor(i, rnd) for i in range(1, vendors + 1)),
        "iaa_agency.tsv": ((i, f"Customer Agency {i}", "", f"AG{i:04d}", f"{rnd.randrange(10**8):09d}")
                           for i in range(1, agencies + 1)),
        "procurement_shops.tsv": iter(SHOPS),
        "cans.tsv": (_can(i, rnd) for i in range(1, cans + 1)),
        "contracts.tsv": (_contract(i, rnd, projects, vendors, users) for i in range(1, counts["contracts.tsv"] + 1)),
        "grants.tsv": (_grant(i, rnd, projects, users) for i in range(1, counts["grants.tsv"] + 1)),
        "iaas.tsv": ((i, f"IAA {i}", rnd.randint(1, projects), rnd.randint(1, agencies), f"POC {i}", f"Agency POC {i}")
                     for i in range(1, counts["iaas.tsv"] + 1)),
        "direct_obligations.tsv": ((i, f"Direct Obligation {i}", rnd.randint(1, projects))
                                   for i in range(1, counts["direct_obligations.tsv"] + 1)),
    }
    next_id = 1
    for name, (_, parents_file, share) in BUDGET_LINES.items():
        many = max(1, round(budget_lines * share)) if name != "direct_obligation_budget_lines.tsv" \
            else max(1, budget_lines - (next_id - 1))
        rows[name] = _budget_lines(next_id, many, counts[parents_file], cans, rnd)
        next_id += many
    written = {}
    for name, columns in COLUMNS.items():
        if only is not None and name not in only:
            continue
        written[name] = _write(folder / name, columns, rows[name])
    return written


def _write(path: Path, columns: tuple[str, ...], rows) -> int:
    count = 0
    with atomic_write(path) as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


_FIRST = ("Avery", "Jordan", "Casey", "Riley", "Morgan", "Quinn", "Harper", "Rowan", "Sage", "Emerson")
_LAST = ("Fairbanks", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Castillo", "Novak", "Brennan", "Ahmadi", "Keller")


def _user(i: int, rnd: random.Random) -> tuple:
    roles = ",".join(sorted(rnd.sample(ROLES, rnd.randint(1, 2))))
    first, last = rnd.choice(_FIRST), rnd.choice(_LAST)
    return (i, f"{first.lower()}.{last.lower()}{i}@example.gov", first, last, rnd.choice(DIVISIONS), "ACTIVE", roles)


def _project(i: int, rnd: random.Random) -> tuple:
    kind = "RESEARCH" if rnd.random() < 0.8 else "ADMINISTRATIVE_AND_SUPPORT"
    return (i, f"Project {i}: evaluation of services", kind, f"P{i}", f"Generated project {i}")


def _vendor(i: int, rnd: random.Random) -> tuple:
    return (i, f"Vendor {i} LLC", f"0{rnd.randrange(10**8):08d}", f"{i} Main Street, Springfield", f"Head {i}",
            f"555-01{i % 100:02d}", f"contracts{i}@vendor{i}.example", "ACTIVE", "2024-01-15", "system")


def _can(i: int, rnd: random.Random) -> tuple:
    year = rnd.choice((2021, 2022, 2023, 2024))
    fund = f"AAXXXX{year}{rnd.choice('012358')}{rnd.choice('DR')}{rnd.choice('ABC')}{rnd.choice('DM')}"
    return (i, year + 1, f"G99{i:04d}", f"CAN {i} description", fund, "0000000001", "YZC6S1JUGUN", "9KRZ2ND",
            f"{rnd.randint(1, 900) * 1000}.0", "", str(year)[2:], "", "DIRECT", "OPRE", f"CAN{i}",
            rnd.choice(PORTFOLIOS), "")


def _contract(i: int, rnd: random.Random, projects: int, vendors: int, users: int) -> tuple:
    start = f"{rnd.randint(2020, 2024)}-{rnd.randint(1, 12):02d}-01"
    end = f"{int(start[:4]) + rnd.randint(1, 5)}{start[4:]}"
    return (i, f"Contract {i}", rnd.randint(1, projects), rnd.randint(1, vendors), f"HHSP{i:08d}", f"TO{i}",
            f"PO{i}", "GSA_SCHEDULE", "", "FIRM_FIXED_PRICE", start, end, f"Specialist {i}",
            rnd.randint(1, users), rnd.randint(1, users), rnd.randint(1, users))


def _grant(i: int, rnd: random.Random, projects: int, users: int) -> tuple:
    year = rnd.randint(2020, 2024)
    return (i, f"Grant {i}", rnd.randint(1, projects), rnd.randint(1, users), rnd.randint(1, users),
            f"HHS-{year}-ACF-OPRE-{i:04d}", f"{rnd.randint(1, 5000) * 100}.00", f"{year}-09-30 00:00:00",
            f"{year + 5}-09-29 00:00:00", 5, rnd.randint(1, 10))


def _budget_lines(first_id: int, many: int, parents: int, cans: int, rnd: random.Random):
    for n in range(many):
        year = rnd.randint(2023, 2027)
        yield (first_id + n, rnd.randint(1, parents), f"Line {first_id + n}", "" if n % 3 else "generated",
               f"{year}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}", rnd.randint(1, cans),
               f"{rnd.randint(100, 2_000_000)}.{rnd.randint(0, 99):02d}", rnd.choice(STATUSES),
               rnd.choice(("", "0", "0.005", "0.015")))
