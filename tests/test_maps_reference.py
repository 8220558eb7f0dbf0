"""MAPS reference exports: vendors (with their contacts), IAA customer agencies, procurement shops
(with their fee periods) and CANs (with their funding details). The analyst-facing rules are in
features/maps_reference.feature; these pin what the scenarios do not show: the whole small export
set, updates in place, the bad-input fixtures cell by cell, and OPS's history on PostgreSQL."""
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from ops_pipeline.datasets.maps_cans import fund_code_problem
from ops_pipeline.datasets.maps_vendors import MapsVendors, split_name, split_phone
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.ops_models import (CAN, CANFundingDetails, Contact, IAACustomerAgency, OpsDBHistory, OpsEvent,
                                        ProcurementShop, ProcurementShopFee, Vendor, VendorContacts, table,
                                        transaction_table, version_table)
from ops_pipeline.maps import recognise_file
from ops_pipeline.pipeline import Options, run_pipeline, run_stage, start_run
from ops_pipeline.rundir import read_jsonl

DATA = Path(__file__).parent / "data" / "maps"
TYPES = ("vendors", "iaa_agency", "procurement_shops", "cans")
CAN_HEADER = ("FISCAL_YEAR", "CAN_NBR", "FUND", "PORTFOLIO", "SYS_CAN_ID", "CAN_DESCRIPTION", "FUNDING_SOURCE",
              "METHOD_OF_TRANSFER", "NICK_NAME", "FUNDING_PARTNER")
VENDOR_HEADER = ("SYS_VENDOR_ID", "VENDOR_NAME", "DUNS", "ADDRESS", "HEAD_OF_CONTRACT", "PHONE_NBR", "EMAIL", "STATUS")


def _tsv(path: Path, header, *rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(r) for r in (header, *rows)) + "\n", encoding="utf-8")
    return path


def _load(path, runs_root, url):
    outcome = run_pipeline(str(path), runs_root=runs_root, db_url=url)
    assert outcome.error is None, outcome.error.one_line()
    return outcome


def _findings(run) -> list[dict]:
    return [f for stage in ("validate", "load") if (run.path / stage / "findings.jsonl").exists()
            for f in read_jsonl(run.path / stage / "findings.jsonl")]


def _count(conn, t) -> int:
    return conn.execute(select(func.count()).select_from(t)).scalar()


# -- rules as pure functions ----------------------------------------------------------------------

@pytest.mark.parametrize("name, parts", [
    ("Pat Example", ("Pat", None, "Example")),
    ("Robin Q. Placeholder", ("Robin", "Q.", "Placeholder")),
    ("Example, Pat", ("Pat", None, "Example")),
    ("Cher", (None, None, "Cher")),
    (None, (None, None, None)),
])
def test_a_head_of_contract_is_split_as_contact_names(name, parts):
    assert split_name(name) == parts


@pytest.mark.parametrize("phone, parts", [
    ("(202) 555-0101", ("202", "555-0101")),
    ("301.555.0102", ("301", "555-0102")),
    ("+1 301 555 0102", ("301", "555-0102")),
    ("202-555-0101 x12", (None, "202-555-0101 x12")),  # an extension is never dropped
    ("+44 20 7946 0000", (None, "+44 20 7946 0000")),
])
def test_a_phone_number_is_split_only_when_nothing_is_lost(phone, parts):
    assert split_phone(phone) == parts


@pytest.mark.parametrize("fund, why", [
    ("AAXXXX20241DAD", None),
    ("AAXXXX2024", "10 characters"),
    ("AAXXXXABCD1DAD", "not a year"),
    ("AAXXXX20244DAD", "character 11"),
    ("AAXXXX20241XAD", "character 12"),
    ("AAXXXX20241DZD", "character 13"),
    ("AAXXXX20241DAX", "character 14"),
])
def test_fund_codes_follow_maps_rules(fund, why):
    found = fund_code_problem(fund)
    assert (found is None) if why is None else (why in found), found


def test_vendor_contacts_are_pii():
    assert {"address", "head_of_contract", "phone_nbr", "email", "last_modified_by"} <= MapsVendors().pii_fields()


# -- the small export set, on SQLite ---------------------------------------------------------------

@pytest.mark.parametrize("kind", TYPES)
def test_each_small_export_is_recognised_from_its_header(kind):
    assert recognise_file(DATA / "small" / f"{kind}.tsv").maps_type == kind


def test_the_small_set_loads_everything_maps_has_and_a_reload_changes_nothing(sqlite_url, runs_root):
    first = [_load(DATA / "small" / f"{kind}.tsv", runs_root, sqlite_url) for kind in TYPES]
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        vendors = {v.id: v for v in conn.execute(select(Vendor))}
        assert vendors[1].duns == "012345677" and vendors[4].duns == "001122334"  # text, zeros kept
        assert [v.active for _, v in sorted(vendors.items())] == [True, True, False, True, False]
        contacts = conn.execute(select(VendorContacts.vendor_id, Contact.first_name, Contact.last_name,
                                       Contact.address, Contact.phone_area_code, Contact.phone_number,
                                       Contact.email, Contact.contact_type)
                                .join(Contact, Contact.id == VendorContacts.contact_id)
                                .order_by(VendorContacts.vendor_id)).all()
        assert [tuple(c) for c in contacts] == [
            (1, "Pat", "Example", "100 Main St, Springfield, VA 22150", "202", "555-0101",
             "pat.example@vendor.example", "CONTRACT"),
            (3, "Robin", "Placeholder", "22 Oak Ave, Rockville, MD 20850", "301", "555-0102",
             "robin@cedar.example", "CONTRACT")]
        assert _count(conn, IAACustomerAgency.__table__) == 5
        fees = conn.execute(select(ProcurementShop.abbr, func.count()).join(
            ProcurementShopFee, ProcurementShopFee.procurement_shop_id == ProcurementShop.id)
            .group_by(ProcurementShop.abbr)).all()
        assert dict(fees) == {"PSC": 1, "GCS": 1, "NIH": 3, "DOD": 2, "IBC": 1}
        cans = conn.execute(select(CAN.id, CAN.number, CANFundingDetails.funding_source,
                                   CANFundingDetails.method_of_transfer, CANFundingDetails.appropriation)
                            .join(CANFundingDetails, CANFundingDetails.id == CAN.funding_details_id)
                            .order_by(CAN.id)).all()
        assert [tuple(c) for c in cans] == [
            (1, "G99AB01", "OPRE", "DIRECT", "XX-24-XXXX"), (2, "G99AB02", "ACF", "COST_SHARE", "XX-24-XXXX"),
            (3, "G99AB03", "HHS", "IAA", "-23-"), (4, "G99AB04", "ACF_MOU", "DIRECT", "XX-24-XXXX"),
            (5, "G99SHARED", "OTHER", "OTHER", "XX-25-XXXX"), (6, "G99AB06", "ACF", "IDDA", "XX-24-XXXX"),
            (7, "G99AB07", "ACF", "DIRECT", "XX-24-XXXX"), (8, "G99AB08", "HHS", "COST_SHARE", "XX-24-XXXX"),
            (9, "G99AB09", "OTHER", "IAA", "XX-25-XXXX"), (10, "G99AB10", "ACF_MOU", "DIRECT", "XX-25-XXXX")]
        history = dict(conn.execute(select(OpsDBHistory.class_name, func.count())
                                    .group_by(OpsDBHistory.class_name)).all())
        assert history == {"User": 1, "Vendor": 5, "Contact": 2, "VendorContacts": 2, "IAACustomerAgency": 5,
                           "ProcurementShop": 5, "ProcurementShopFee": 8, "CANFundingDetails": 10, "CAN": 10}
        keys = conn.execute(select(OpsDBHistory.row_key).where(OpsDBHistory.class_name == "VendorContacts")
                            .order_by(OpsDBHistory.id)).scalars().all()
        assert keys == ["1|1", "3|2"]
        assert _count(conn, version_table("vendor_contacts")) == 2
        events = dict(conn.execute(select(OpsEvent.event_type, func.count()).group_by(OpsEvent.event_type)).all())
        assert events == {"CREATE_NEW_CAN": 10, "CREATE_PROCUREMENT_SHOP": 5}
        before = {t.name: _count(conn, t) for t in (transaction_table, OpsDBHistory.__table__,
                                                    version_table("contact"), version_table("can"))}
    assert all(not o.report["findings"].keys() - {"COLUMN_UNLOADED"} for o in first), \
        [o.report["findings"] for o in first]
    again = [_load(DATA / "small" / f"{kind}.tsv", runs_root, sqlite_url) for kind in TYPES]
    for outcome in again:
        for kind, counts in outcome.report["entities"].items():
            assert counts["unchanged"] > 0 and counts["inserted"] == counts["updated"] == 0, (kind, counts)
    with engine.connect() as conn:
        assert {t.name: _count(conn, t) for t in (transaction_table, OpsDBHistory.__table__,
                                                  version_table("contact"), version_table("can"))} == before
    engine.dispose()


def test_a_later_export_updates_vendors_contacts_and_cans_in_place(sqlite_url, runs_root, tmp_path):
    _load(_tsv(tmp_path / "a" / "vendors.tsv", VENDOR_HEADER,
               ("1", "Acme", "012345677", "1 Main St", "Pat Example", "202-555-0101", "pat@vendor.example",
                "ACTIVE")), runs_root, sqlite_url)
    _load(_tsv(tmp_path / "a" / "cans.tsv", CAN_HEADER,
               ("2024", "G99AB01", "AAXXXX20241DAD", "HS", "1", "HS research", "ACF", "COST_SHARE", "HS study",
                "Head Start"),
               ("2024", "G99AB02", "AAXXXX20241DAD", "CC", "", "no id", "HHS", "OTHER", "", "")),
          runs_root, sqlite_url)
    vendors = _load(_tsv(tmp_path / "b" / "vendors.tsv", VENDOR_HEADER,
                         ("1", "Acme Inc", "012345677", "1 Main St", "Pat Example", "202-555-0199",
                          "pat@vendor.example", "INACTIVE")), runs_root, sqlite_url)
    cans = _load(_tsv(tmp_path / "b" / "cans.tsv", CAN_HEADER,
                      ("2025", "G99AB01", "AAXXXX20251DAD", "", "1", "", "", "", "", ""),
                      ("2025", "G99AB02", "AAXXXX20251DAD", "", "", "found by number", "", "IAA", "", "")),
                 runs_root, sqlite_url)
    assert vendors.report["entities"]["contact"]["updated"] == 1
    assert cans.report["entities"]["can"]["updated"] == 2 and cans.report["entities"]["can"]["inserted"] == 0
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        vendor = conn.execute(select(Vendor)).one()
        assert (vendor.name, vendor.active) == ("Acme Inc", False)
        contact = conn.execute(select(Contact)).one()  # updated in place, still the vendor's one contact
        assert (contact.id, contact.phone_number) == (1, "555-0199")
        assert conn.execute(select(VendorContacts.vendor_id, VendorContacts.contact_id)).all() == [(1, 1)]
        rows = conn.execute(select(CAN.id, CAN.description, CAN.nick_name, CAN.portfolio_id, CANFundingDetails.id,
                                   CANFundingDetails.fiscal_year, CANFundingDetails.funding_source,
                                   CANFundingDetails.method_of_transfer, CANFundingDetails.funding_partner)
                            .join(CANFundingDetails, CANFundingDetails.id == CAN.funding_details_id)
                            .order_by(CAN.number)).all()
        # G99AB01: a blank description wipes; blank nick name, portfolio, source, method, partner keep
        assert tuple(rows[0]) == (1, None, "HS study", 2, 1, 2025, "ACF", "COST_SHARE", "Head Start")
        # G99AB02, staged without an id, is the stored CAN of that number (OPS gave it 500)
        assert tuple(rows[1]) == (500, "found by number", None, 3, 2, 2025, "HHS", "IAA", None)
        assert _count(conn, CANFundingDetails.__table__) == 2
        updated = conn.execute(select(OpsDBHistory.class_name, OpsDBHistory.row_key)
                               .where(OpsDBHistory.event_type == "UPDATED").order_by(OpsDBHistory.id)).all()
        assert {tuple(u) for u in updated} == {("Vendor", "1"), ("Contact", "1"), ("CANFundingDetails", "1"),
                                               ("CAN", "1"), ("CANFundingDetails", "2"), ("CAN", "500")}
    engine.dispose()


def test_a_new_can_without_portfolio_or_method_is_not_given_funding_details(sqlite_url, runs_root, tmp_path):
    outcome = _load(_tsv(tmp_path / "cans.tsv", CAN_HEADER,
                         ("2024", "G99AB01", "AAXXXX20241DAD", "", "1", "no portfolio", "ACF", "DIRECT", "", ""),
                         ("2024", "G99AB02", "AAXXXX20241DAD", "HS", "2", "no method", "ACF", "", "", "")),
                    runs_root, sqlite_url)
    found = {(f["code"], f.get("cell")) for f in _findings(outcome.run)}
    assert ("CAN_NO_PORTFOLIO", "cans.tsv:2:PORTFOLIO") in found
    assert ("CAN_NO_FUNDING_DETAILS", "cans.tsv:3:METHOD_OF_TRANSFER") in found
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(select(CAN.id, CAN.funding_details_id)).all() == [(2, None)]
        assert _count(conn, CANFundingDetails.__table__) == 0  # none left behind for the CAN not created
    engine.dispose()


# -- bad inputs, cell by cell -------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("vendors_bad_values.tsv", {
        ("VALUE_COERCED", "3:STATUS", "warning"), ("BAD_ENUM", "4:STATUS", "error"),
        ("ID_OUT_OF_RANGE", "5:SYS_VENDOR_ID", "error"), ("KEY_DUPLICATE", "6:SYS_VENDOR_ID", "error"),
        ("missing-value", "7:VENDOR_NAME", "error"), ("VENDOR_DUNS_REPEATED", "6:DUNS", "warning")}),
    ("iaa_agency_unknown_code.tsv", {("BAD_NUMBER", "4:OBJECT_CLASS_CODE", "error")}),
    ("procurement_shops_bad_periods.tsv", {
        ("PROCUREMENT_SHOP_FEE_OVERLAP", "3:START_DATE", "warning"),
        ("PROCUREMENT_SHOP_FEE_REVERSED", "4:START_DATE", "warning"), ("VALUE_COERCED", "4:FEE", "warning"),
        ("bad-amount", "5:FEE", "error")}),
    ("cans_bad_values.tsv", {
        ("BAD_ENUM", "2:PORTFOLIO", "error"), ("CAN_NO_FUNDING_DETAILS", "3:FUND", "warning"),
        ("BAD_ENUM", "5:METHOD_OF_TRANSFER", "error"), ("BAD_ENUM", "6:FUNDING_SOURCE", "error"),
        ("CAN_SOURCE_METHOD_ADVISORY", "7:METHOD_OF_TRANSFER", "warning"),
        ("CAN_NO_FUNDING_DETAILS", "8:FUND", "warning"), ("ID_OUT_OF_RANGE", "9:SYS_CAN_ID", "error"),
        ("COLUMN_UNLOADED", "1:CURRENT_FY_FUNDING_YTD", "info")}),
])
def test_bad_exports_are_reported_on_their_cells(runs_root, name, expected):
    run = start_run(str(DATA / "bad" / name), runs_root)
    run_stage("validate", run, Options())
    found = {(f["code"], f["cell"].split(":", 1)[1], f["severity"]) for f in _findings(run)}
    assert expected <= found, sorted(found - expected)
    assert {f["cell"].split(":", 1)[0] for f in _findings(run)} == {name}


def test_the_iaa_agency_unknown_code_loads_without_it(sqlite_url, runs_root, tmp_path):
    outcome = _load(_tsv(tmp_path / "iaa_agency.tsv",
                         ("SYS_IAA_CUSTOMER_AGENCY_ID", "CUSTOMER_AGENCY_NAME", "OBJECT_CLASS_CODE"),
                         ("1", "Known", "25309"), ("2", "Unknown", "99999")), runs_root, sqlite_url)
    warned = [f for f in _findings(outcome.run) if f["code"] == "REF_UNRESOLVED"]
    assert [(f["cell"], f["severity"]) for f in warned] == [("iaa_agency.tsv:3:OBJECT_CLASS_CODE", "warning")]
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(select(IAACustomerAgency.id, IAACustomerAgency.object_class_code_id)
                            .order_by(IAACustomerAgency.id)).all() == [(1, 9), (2, None)]
    engine.dispose()


# -- PostgreSQL: OPS's real schema and its history ---------------------------------------------------

@pytest.mark.postgres
def test_the_small_set_loads_into_ops_with_its_history(pg_schema_url, runs_root):
    for kind in TYPES:
        _load(DATA / "small" / f"{kind}.tsv", runs_root, pg_schema_url)
    engine = make_engine(pg_schema_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ops.vendor_contacts_version "
                                 "WHERE operation_type = 0")).scalar() == 2
        versions = {name: _count(conn, version_table(name)) for name in (
            "vendor", "contact", "iaa_customer_agency", "procurement_shop", "procurement_shop_fee",
            "can_funding_details", "can")}
        assert versions == {"vendor": 5, "contact": 2, "iaa_customer_agency": 5, "procurement_shop": 5,
                            "procurement_shop_fee": 8, "can_funding_details": 10, "can": 10}
        assert conn.execute(text("SELECT count(*) FROM ops.can_history "
                                 "WHERE history_type = 'CAN_DATA_IMPORT'")).scalar() == 10
        # explicit MAPS ids moved no sequence below OPS's own start
        assert conn.execute(text("SELECT last_value FROM ops.can_id_seq")).scalar() >= 500
        before = {t: _count(conn, table(t)) for t in ("transaction", "ops_db_history", "ops_event")}
    for kind in ("vendors", "cans"):  # the association rows and the events: the rest is as on SQLite
        _load(DATA / "small" / f"{kind}.tsv", runs_root, pg_schema_url)
    with engine.connect() as conn:
        assert {t: _count(conn, table(t)) for t in before} == before
    engine.dispose()


@pytest.mark.postgres
def test_updates_on_ops_close_the_old_versions(pg_schema_url, runs_root, tmp_path):
    _load(_tsv(tmp_path / "a" / "cans.tsv", CAN_HEADER,
               ("2024", "G99AB01", "AAXXXX20241DAD", "HS", "1", "HS research", "ACF", "DIRECT", "HS", "")),
          runs_root, pg_schema_url)
    _load(_tsv(tmp_path / "a" / "vendors.tsv", VENDOR_HEADER,
               ("1", "Acme", "", "", "Pat Example", "202-555-0101", "", "ACTIVE")), runs_root, pg_schema_url)
    _load(_tsv(tmp_path / "b" / "cans.tsv", CAN_HEADER,
               ("2024", "G99AB01", "AAXXXX20241DAD", "CC", "1", "HS research", "ACF", "DIRECT", "New nick", "")),
          runs_root, pg_schema_url)
    _load(_tsv(tmp_path / "b" / "vendors.tsv", VENDOR_HEADER,
               ("1", "Acme", "", "", "Pat Example", "202-555-0199", "", "ACTIVE")), runs_root, pg_schema_url)
    engine = make_engine(pg_schema_url)
    with engine.connect() as conn:
        for name, key in (("can", 1), ("contact", None)):
            t = version_table(name)
            rows = conn.execute(select(t.c.transaction_id, t.c.end_transaction_id, t.c.operation_type)
                                .order_by(t.c.transaction_id)).all()
            assert [r.operation_type for r in rows] == [0, 1] and rows[0].end_transaction_id == rows[1].transaction_id
            assert rows[1].end_transaction_id is None
        lines = conn.execute(text("SELECT history_type FROM ops.can_history ORDER BY id")).scalars().all()
        assert lines == ["CAN_DATA_IMPORT", "CAN_NICKNAME_EDITED", "CAN_PORTFOLIO_EDITED"]
        assert conn.execute(text("SELECT count(*) FROM ops.ops_event WHERE event_type = 'UPDATE_CAN'")).scalar() == 1
        assert conn.execute(text("SELECT changes FROM ops.ops_db_history WHERE class_name = 'Contact' "
                                 "AND event_type = 'UPDATED'")).scalar() == {
            "phone_number": {"new": "555-0199", "old": "555-0101"}}
    engine.dispose()


def test_vendor_contacts_stay_out_of_everything_but_the_staged_data(sqlite_url, runs_root, tmp_path):
    canaries = ("Zelda Canary", "zelda.canary@secret.example", "9 Secret Rd", "555-0111")
    path = _tsv(tmp_path / "vendors.tsv", VENDOR_HEADER,
                ("1", "Acme", "", "9 Secret Rd", "Zelda Canary", "202-555-0111", "zelda.canary@secret.example",
                 "Bogus"),
                ("2", "Beta", "", "9 Secret Rd", "Zelda Canary", "202-555-0111", "zelda.canary@secret.example",
                 "ACTIVE"))
    outcome = run_pipeline(str(path), runs_root=runs_root, db_url=sqlite_url, accept_rejects=True)
    assert outcome.error is None and outcome.report["entities"]["contact"]["inserted"] == 1
    staged = ("fetch/", "validate/valid_rows.jsonl", "validate/rejected.jsonl", "transform/")
    leaks = [str(f.relative_to(outcome.run.path)) for f in outcome.run.path.rglob("*") if f.is_file()
             and not str(f.relative_to(outcome.run.path)).startswith(staged)
             and any(c in f.read_text(errors="replace") for c in canaries)]
    assert leaks == []
    assert not any(c in str(outcome.report) for c in canaries)


def test_a_can_id_ops_lacks_with_a_number_ops_has_is_a_collision_and_a_renamed_can_keeps_its_details(
        sqlite_url, runs_root, tmp_path):
    _load(_tsv(tmp_path / "a" / "cans.tsv", CAN_HEADER,
               ("2024", "G99AB01", "AAXXXX20241DAD", "HS", "1", "first", "ACF", "DIRECT", "", "")),
          runs_root, sqlite_url)
    second = ("2025", "G99AB01", "AAXXXX20251DAD", "HS", "2", "second", "HHS", "IAA", "", "")
    collision = run_pipeline(str(_tsv(tmp_path / "b" / "cans.tsv", CAN_HEADER, second)),
                             runs_root=runs_root, db_url=sqlite_url)
    assert "cans.tsv:2:CAN_NBR: " in collision.error.one_line()
    assert "OPS already has CAN 1 with the same number" in collision.error.one_line()
    accepted = run_pipeline(str(tmp_path / "b" / "cans.tsv"), runs_root=runs_root, db_url=sqlite_url,
                            accept_rejects=True)
    assert [(f["code"], f["cell"], f["severity"]) for f in _findings(accepted.run) if f["severity"] == "error"] \
        == [("KEY_COLLISION", "cans.tsv:2:CAN_NBR", "error")]
    # neither a CAN nor funding details for the refused row, and CAN 1's details untouched
    assert accepted.report["entities"]["can_funding_details"] == {
        "inserted": 0, "updated": 0, "unchanged": 0, "skipped": 1, "rejected": 0}
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(select(CANFundingDetails.funding_source)).scalars().all() == ["ACF"]
    engine.dispose()
    renamed = _load(_tsv(tmp_path / "c" / "cans.tsv", CAN_HEADER,
                         ("2025", "G99AB09", "AAXXXX20251DAD", "", "1", "renamed", "HHS", "IAA", "", "")),
                    runs_root, sqlite_url)
    assert renamed.report["entities"]["can_funding_details"]["updated"] == 1
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        rows = conn.execute(select(CAN.id, CAN.number, CANFundingDetails.id, CANFundingDetails.funding_source)
                            .join(CANFundingDetails, CANFundingDetails.id == CAN.funding_details_id)).all()
        assert [tuple(r) for r in rows] == [(1, "G99AB09", 1, "HHS")]
        assert _count(conn, CANFundingDetails.__table__) == 1
    # renaming CAN 1 to the number of CAN 3 is a collision too: neither CAN nor its details change
    _load(_tsv(tmp_path / "d" / "cans.tsv", CAN_HEADER,
               ("2025", "G99AB03", "AAXXXX20251DAD", "CC", "3", "third", "ACF", "DIRECT", "", "")),
          runs_root, sqlite_url)
    taken = run_pipeline(str(_tsv(tmp_path / "e" / "cans.tsv", CAN_HEADER,
                                  ("2026", "G99AB03", "AAXXXX20261DAD", "", "1", "renamed again", "OPRE", "", "", ""))),
                         runs_root=runs_root, db_url=sqlite_url, accept_rejects=True)
    assert [f["code"] for f in _findings(taken.run) if f["severity"] == "error"] == ["KEY_COLLISION"]
    with engine.connect() as conn:
        rows = conn.execute(select(CAN.id, CAN.number, CANFundingDetails.fiscal_year, CANFundingDetails.funding_source)
                            .join(CANFundingDetails, CANFundingDetails.id == CAN.funding_details_id)
                            .order_by(CAN.id)).all()
        assert [tuple(r) for r in rows] == [(1, "G99AB09", 2025, "HHS"), (3, "G99AB03", 2025, "ACF")]
    engine.dispose()
