"""Steps for MAPS's reference exports (features/maps_reference.feature): the same library functions
the CLI calls (ops_pipeline.pipeline), on a SQLite OPS subset per scenario."""
from decimal import Decimal
from pathlib import Path

from behave import given, then, when
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.ops_models import (CAN, CANFundingDetails, Contact, IAACustomerAgency, ObjectClassCode,
                                        OpsDBHistory, Portfolio, ProcurementShop, ProcurementShopFee, Vendor,
                                        VendorContacts, transaction_table)
from ops_pipeline.pipeline import Options, run_pipeline, run_stage, start_run
from ops_pipeline.rundir import read_jsonl
from tests.maps_steps import scenario_db as _db, run_findings

DATASETS = {"vendors": "maps-vendors", "iaa_agency": "maps-iaa-agency",
            "procurement_shops": "maps-procurement-shops", "cans": "maps-cans"}
SMALL = Path(__file__).resolve().parents[2] / "tests" / "data" / "maps" / "small"
ORDER = ("vendors", "iaa_agency", "procurement_shops", "cans")


def _session(context) -> Session:
    return Session(make_engine(_db(context)))


def _export(context, kind: str, table, name: str | None = None) -> Path:
    """The scenario's table as a MAPS export: a header row and tab-separated cells."""
    folder = context.tmp / (name or "export")
    folder.mkdir(exist_ok=True)
    path = folder / f"{kind}.tsv"
    lines = ["\t".join(table.headings)] + ["\t".join(cell.strip() for cell in row.cells) for row in table]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(context, kind: str, path: Path, accept_rejects: bool = False):
    outcome = run_pipeline(str(path), runs_root=context.runs_root, db_url=_db(context), dataset=DATASETS[kind],
                           accept_rejects=accept_rejects)
    assert outcome.error is None, outcome.error.one_line()
    context.outcome = outcome
    context.runs = getattr(context, "runs", []) + [outcome.run]
    context.history_after = getattr(context, "history_after", []) + [_history_rows(context)]
    return outcome


def _history_rows(context) -> dict:
    with _session(context) as session:
        return {t.name: session.execute(select(func.count()).select_from(t)).scalar()
                for t in (transaction_table, OpsDBHistory.__table__)}


def _findings(context) -> list[dict]:
    """Every finding of the scenario's last run: validation's and the load's."""
    return run_findings(context.outcome.run if hasattr(context, "outcome") else context.run)


def _blank(value) -> str:
    return "" if value is None else str(value)


@given('the MAPS reference export "{kind}.tsv":')
def step_export(context, kind):
    context.kind = kind
    context.export = _export(context, kind, context.table)


@when("the reference export goes through the pipeline into the database")
@given("the reference export has gone through the pipeline into the database")
def step_pipeline(context):
    _run(context, context.kind, context.export)


@when('a later reference export "{kind}.tsv" goes through the pipeline into the database:')
def step_later_export(context, kind):
    _run(context, kind, _export(context, kind, context.table, name="later"))


@when('a later reference export "{kind}.tsv" goes through the pipeline, its refused rows left out:')
def step_later_export_accepting(context, kind):
    _run(context, kind, _export(context, kind, context.table, name="later"), accept_rejects=True)


@when("the reference export is validated")
def step_validate(context):
    context.run = start_run(str(context.export), context.runs_root, dataset=DATASETS[context.kind])
    run_stage("validate", context.run, Options())


@then('its line {line:d} is refused with "{code}" on cell "{cell}"')
def step_refused(context, line, code, cell):
    rejected = list(read_jsonl(context.run.path / "validate" / "rejected.jsonl"))
    assert any(r.get("row") == line for r in rejected), rejected
    found = [f for f in _findings(context) if f["code"] == code and f.get("cell") == cell]
    assert found and found[0]["severity"] == "error", _findings(context)


def _flagged(context, code, cell, severity):
    found = [f for f in _findings(context) if f["code"] == code and f.get("cell") == cell]
    assert found, [(f["code"], f.get("cell")) for f in _findings(context)]
    assert found[0]["severity"] == severity, found


@then('the reference report warns "{code}" on cell "{cell}"')
def step_warns(context, code, cell):
    _flagged(context, code, cell, "warning")


@then('the reference report refuses "{code}" on cell "{cell}"')
def step_refuses(context, code, cell):
    _flagged(context, code, cell, "error")


@then('the reference report notes "{code}" on cell "{cell}"')
def step_notes(context, code, cell):
    _flagged(context, code, cell, "info")


@then("OPS has these vendors:")
def step_vendors(context):
    with _session(context) as session:
        found = [{"id": str(v.id), "name": v.name, "duns": _blank(v.duns), "active": "yes" if v.active else "no"}
                 for v in session.query(Vendor).order_by(Vendor.id)]
    assert found == [dict(row.as_dict()) for row in context.table], found


@then("OPS has these vendor contacts:")
def step_vendor_contacts(context):
    with _session(context) as session:
        rows = session.execute(select(VendorContacts.vendor_id, Contact)
                               .join(Contact, Contact.id == VendorContacts.contact_id)
                               .order_by(VendorContacts.vendor_id)).all()
        found = [{"vendor": str(vendor), "first name": _blank(c.first_name), "middle name": _blank(c.middle_name),
                  "last name": _blank(c.last_name), "address": _blank(c.address),
                  "area code": _blank(c.phone_area_code), "phone": _blank(c.phone_number), "e-mail": _blank(c.email)}
                 for vendor, c in rows]
    assert found == [dict(row.as_dict()) for row in context.table], found


@then("OPS has these IAA customer agencies:")
def step_agencies(context):
    with _session(context) as session:
        rows = session.execute(select(IAACustomerAgency, ObjectClassCode.code)
                               .outerjoin(ObjectClassCode, ObjectClassCode.id == IAACustomerAgency.object_class_code_id)
                               .order_by(IAACustomerAgency.id)).all()
        found = [{"id": str(a.id), "name": a.name, "object class code": _blank(code),
                  "agency number": _blank(a.customer_agency_nbr)} for a, code in rows]
    assert found == [dict(row.as_dict()) for row in context.table], found


@then("OPS has {count:d} procurement shops")
def step_shop_count(context, count):
    with _session(context) as session:
        assert session.query(ProcurementShop).count() == count


@then("OPS has these procurement shop fees:")
def step_fees(context):
    with _session(context) as session:
        rows = session.execute(select(ProcurementShop.abbr, ProcurementShopFee)
                               .join(ProcurementShopFee, ProcurementShopFee.procurement_shop_id == ProcurementShop.id)
                               .order_by(ProcurementShop.abbr, ProcurementShopFee.start_date)).all()
        found = [{"shop": abbr, "fee": f"{Decimal(fee.fee):.2f}", "start": _blank(fee.start_date),
                  "end": _blank(fee.end_date)} for abbr, fee in rows]
    expected = sorted((dict(row.as_dict()) for row in context.table), key=lambda r: (r["shop"], r["start"]))
    assert sorted(found, key=lambda r: (r["shop"], r["start"])) == expected, found


@then("OPS has these CANs:")
def step_cans(context):
    with _session(context) as session:
        rows = session.execute(select(CAN, Portfolio.abbreviation, CANFundingDetails)
                               .join(Portfolio, Portfolio.id == CAN.portfolio_id)
                               .outerjoin(CANFundingDetails, CANFundingDetails.id == CAN.funding_details_id)
                               .order_by(CAN.id)).all()
        found = [{"id": str(can.id), "number": can.number, "portfolio": portfolio, "nick name": _blank(can.nick_name),
                  "fund code": _blank(details and details.fund_code),
                  "fiscal year": _blank(details and details.fiscal_year),
                  "appropriation": _blank(details and details.appropriation),
                  "source": _blank(details and details.funding_source),
                  "method": _blank(details and details.method_of_transfer)}
                 for can, portfolio, details in rows]
    assert found == [dict(row.as_dict()) for row in context.table], found


@then("OPS has {count:d} CAN without funding details")
def step_can_without_details(context, count):
    with _session(context) as session:
        assert session.query(CAN).filter(CAN.funding_details_id.is_(None)).count() == count
        assert session.query(CAN).count() == count
        assert session.query(CANFundingDetails).count() == 0


@then('CAN "{number}" has no description and its funding partner is "{partner}"')
def step_can_description(context, number, partner):
    with _session(context) as session:
        can = session.execute(select(CAN).where(CAN.number == number)).scalar_one()
        details = session.get(CANFundingDetails, can.funding_details_id)
        assert (can.description, details.funding_partner) == (None, partner), (can.description, details.funding_partner)
        assert session.query(CANFundingDetails).count() == 1


@given("the small MAPS export set's vendors, IAA customer agencies, procurement shops and CANs have been loaded")
def step_small_loaded(context):
    for kind in ORDER:
        _run(context, kind, SMALL / f"{kind}.tsv")
    context.first_history = _history_rows(context)


@when("they are loaded again")
def step_loaded_again(context):
    context.reloads = [_run(context, kind, SMALL / f"{kind}.tsv") for kind in ORDER]


@then("every record is unchanged")
def step_all_unchanged(context):
    for outcome in context.reloads:
        for kind, counts in outcome.report["entities"].items():
            assert counts["inserted"] == counts["updated"] == 0 and counts["unchanged"] > 0, (kind, counts)


@then("OPS recorded no history for the reloads")
def step_no_history(context):
    assert context.history_after[-1] == context.first_history, (context.first_history, context.history_after[-1])
    assert context.first_history["transaction"] > 0
