"""The MAPS budget lines' entities, loaded by the generic entity layer on the SQLite OPS subset:
the parent found by (type, MAPS id), per-kind columns in the subtype table, shared grant details,
and ids another kind of line already holds refused as KEY_COLLISION.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select

from ops_pipeline.datasets import maps_budget_lines as lines
from ops_pipeline.db import ops_models as m
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.entities import Loader
from ops_pipeline.findings import merge_codes

NOW = dt.datetime(2026, 11, 29, 12, 0, 0)
CODES = merge_codes({
    "BLI_ORPHAN": ("error", "a budget line whose parent agreement OPS does not have"),
    "REF_UNRESOLVED": ("warning", "an optional reference OPS does not have: loaded without it"),
    "KEY_COLLISION": ("error", "a key OPS holds for another kind of record"),
})


def contract_specs():
    return (lines.agreement_reference(), *lines.reference_specs(), lines.mod_spec(), lines.clin_spec(),
            lines.line_spec("CONTRACT", ("certified", "closed", "psc_fee_doc_number"),
                            extra_links=(lines.closed_by_link(), lines.mod_link(), lines.clin_link())),
            lines.invoice_spec())


def grant_specs():
    return (lines.agreement_reference(), *lines.reference_specs(), lines.detail_spec(),
            lines.line_spec("GRANT", ("bns_number",), extra_links=(lines.detail_link(),)))


def bli(kind, line_id, parent, values=None, links=None, row=2):
    return {"entity": "budget_line_item", "key": {"id": line_id},
            "values": {"budget_line_item_type": kind, "line_description": f"line {line_id}", "comments": None,
                       "date_needed": "2025-01-15", "amount": "10.00", "status": "PLANNED",
                       "proc_shop_fee_percentage": None, **(values or {})},
            "links": {"agreement": {"agreement_type": kind, "maps_sys_id": parent}, **(links or {})},
            "lineage": {"file": "f" * 64, "sheet": "lines.tsv", "rows": str(row)}}


@pytest.fixture
def engine(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        for agreement_id, kind, maps_id, sub, extra in (
                (1, "CONTRACT", 1, m.ContractAgreement, {"delivered_status": False}),
                (2, "GRANT", 1, m.GrantAgreement, {}),
                (3, "GRANT", 2, m.GrantAgreement, {})):
            conn.execute(insert(m.Agreement.__table__).values(
                id=agreement_id, agreement_type=kind, name=f"{kind} {maps_id}", notes="", maps_sys_id=maps_id))
            conn.execute(insert(sub.__table__).values(id=agreement_id, **extra))
        conn.execute(insert(m.CAN.__table__).values(id=7, number="G99AB07", portfolio_id=1))
    yield engine
    engine.dispose()


def load(engine, specs, files):
    with engine.begin() as conn:
        loader = Loader(conn, specs, user_id=None, now=NOW, codes=CODES,
                        columns={"sys_contract_id": "SYS_CONTRACT_ID", "sys_can_id": "SYS_CAN_ID",
                                 "object_class_code": "OBJECT_CLASS_CODE"})
        counts = loader.load(files)
    return counts, loader.findings


def test_a_contract_line_goes_under_the_contract_with_its_maps_id_and_keeps_its_subtype_columns(engine):
    counts, findings = load(engine, contract_specs(), {"budget_line_item": [
        bli("CONTRACT", 5, 1, {"certified": True, "closed": False, "psc_fee_doc_number": "DOC-1"},
            {"can": {"id": 7}, "object_class_code": {"code": 25103}})]})
    assert findings == [] and counts["budget_line_item"]["inserted"] == 1
    with engine.connect() as conn:
        row = conn.execute(select(m.BudgetLineItem.__table__)).one()
        assert (row.id, row.agreement_id, row.can_id, row.object_class_code_id, row.certified, row.on_hold) == (
            5, 1, 7, 10, True, False)
        assert conn.execute(select(m.ContractBudgetLineItem.__table__.c.psc_fee_doc_number)).scalar() == "DOC-1"


def test_reloading_changes_nothing_and_a_changed_subtype_column_is_an_update(engine):
    record = bli("CONTRACT", 5, 1, {"certified": False, "closed": False, "psc_fee_doc_number": "DOC-1"})
    load(engine, contract_specs(), {"budget_line_item": [record]})
    counts, _ = load(engine, contract_specs(), {"budget_line_item": [record]})
    assert counts["budget_line_item"]["unchanged"] == 1
    record["values"]["psc_fee_doc_number"] = "DOC-2"
    counts, _ = load(engine, contract_specs(), {"budget_line_item": [record]})
    assert counts["budget_line_item"]["updated"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(m.ContractBudgetLineItem.__table__.c.psc_fee_doc_number)).scalar() == "DOC-2"


def test_a_line_whose_parent_ops_lacks_is_rejected_never_matched_to_another_kinds_agreement(engine):
    # A GRANT has MAPS id 2; no CONTRACT does: the contract line is an orphan, rejected.
    counts, findings = load(engine, contract_specs(), {"budget_line_item": [
        bli("CONTRACT", 6, 2, {"certified": False, "closed": False}, row=4)]})
    assert counts["budget_line_item"]["rejected"] == 1
    [finding] = findings
    assert (finding.code, finding.severity, finding.row, finding.column) == ("BLI_ORPHAN", "error", 4,
                                                                             "SYS_CONTRACT_ID")
    with engine.connect() as conn:
        assert conn.execute(select(m.BudgetLineItem.id)).all() == []


def test_an_unknown_can_is_a_warning_and_the_line_loads_without_it(engine):
    counts, findings = load(engine, contract_specs(), {"budget_line_item": [
        bli("CONTRACT", 5, 1, {"certified": False, "closed": False}, {"can": {"id": 8}})]})
    assert counts["budget_line_item"]["inserted"] == 1
    assert [(f.code, f.severity, f.value) for f in findings] == [("REF_UNRESOLVED", "warning", "8")]


def test_a_line_id_another_kind_holds_is_a_key_collision_not_an_overwrite(engine):
    load(engine, grant_specs(), {"budget_line_item": [bli("GRANT", 5, 1)]})
    counts, findings = load(engine, contract_specs(), {"budget_line_item": [
        bli("CONTRACT", 5, 1, {"certified": False, "closed": False})]})
    assert counts["budget_line_item"]["rejected"] == 1
    assert [(f.code, f.severity) for f in findings] == [("KEY_COLLISION", "error")]
    with engine.connect() as conn:
        assert conn.execute(select(m.BudgetLineItem.budget_line_item_type)).scalars().all() == ["GRANT"]


def test_grant_lines_naming_the_same_grantee_share_one_detail_row(engine):
    detail = {"grants_number": "90XX0001", "grantee_name": "Univ", "educational_institution": True,
              "state_code": "MD"}
    records = {"grant_budget_line_item_detail": [
        {"entity": "grant_budget_line_item_detail", "key": detail, "values": detail, "links": {},
         "lineage": {"file": "f" * 64, "sheet": "g.tsv", "rows": "2-3"}}],
        "budget_line_item": [bli("GRANT", 100, 1, links={"details": detail}),
                             bli("GRANT", 101, 2, links={"details": detail}, row=3)]}
    counts, findings = load(engine, grant_specs(), records)
    assert findings == [] and counts["grant_budget_line_item_detail"]["inserted"] == 1
    with engine.connect() as conn:
        details = conn.execute(select(m.GrantBudgetLineItem.__table__.c.details_id)).scalars().all()
        (detail_id,) = conn.execute(select(m.GrantBudgetLineItemDetail.id)).scalars().all()
        assert details == [detail_id, detail_id]
    counts, _ = load(engine, grant_specs(), records)
    assert counts["grant_budget_line_item_detail"]["unchanged"] == 1
    assert counts["budget_line_item"]["unchanged"] == 2


def test_a_contract_lines_mod_and_clin_are_loaded_once_under_its_contract(engine):
    contract = {"agreement_type": "CONTRACT", "maps_sys_id": 1}
    mod = {"agreement": contract, "number": "0001"}
    lineage = {"file": "f" * 64, "sheet": "c.tsv", "rows": "2"}
    files = {
        "agreement_mod": [{"entity": "agreement_mod", "key": mod, "values": {"number": "0001", "mod_type": "ADMIN"},
                           "links": {"agreement": contract}, "lineage": lineage}],
        "clin": [{"entity": "clin", "key": {"id": 4}, "values": {"number": 1, "name": "SC1",
                                                                  "pop_start_date": "2024-01-01",
                                                                  "pop_end_date": None},
                  "links": {"agreement": contract}, "lineage": lineage}],
        "budget_line_item": [
            bli("CONTRACT", line_id, 1, {"certified": False, "closed": False},
                {"mod": mod, "clin": {"id": 4}}) for line_id in (5, 6)],
        "invoice": [{"entity": "invoice", "key": {"budget_line": {"id": 6}}, "values": {"invoice_line_number": 3},
                     "links": {"budget_line": {"id": 6}}, "lineage": lineage}],
    }
    counts, findings = load(engine, contract_specs(), files)
    assert findings == []
    assert counts["agreement_mod"]["inserted"] == 1 and counts["clin"]["inserted"] == 1
    with engine.connect() as conn:
        (mod_id, agreement_id, mod_type), = conn.execute(select(
            m.AgreementMod.id, m.AgreementMod.agreement_id, m.AgreementMod.mod_type)).all()
        assert (agreement_id, mod_type) == (1, "ADMIN")
        assert conn.execute(select(m.ContractBudgetLineItem.__table__.c.mod_id)).scalars().all() == [mod_id, mod_id]
        assert conn.execute(select(m.BudgetLineItem.clin_id)).scalars().all() == [4, 4]
        assert conn.execute(select(m.CLIN.agreement_id)).scalars().all() == [1]
        assert conn.execute(select(m.Invoice.budget_line_item_id, m.Invoice.invoice_line_number)).all() == [(6, 3)]
    counts, _ = load(engine, contract_specs(), files)
    assert counts["invoice"]["unchanged"] == 1
    assert counts["agreement_mod"]["unchanged"] == 1 and counts["budget_line_item"]["unchanged"] == 2


def clin(clin_id, number, row):
    return {"entity": "clin", "key": {"id": clin_id},
            "values": {"number": number, "name": f"CLIN {clin_id}", "pop_start_date": None, "pop_end_date": None},
            "links": {"agreement": {"agreement_type": "CONTRACT", "maps_sys_id": 1}},
            "lineage": {"file": "f" * 64, "sheet": "c.tsv", "rows": str(row)}}


def test_a_clin_number_its_contract_already_has_is_refused_with_its_cell(engine):
    """OPS holds a CLIN number once per contract: a second SYS_CLIN_ID with it, in the same file or
    a later one, is a KEY_COLLISION finding on its row, never the database's error."""
    counts, findings = load(engine, contract_specs(), {"clin": [clin(4, 1, 2), clin(5, 1, 3), clin(6, 2, 4)]})
    assert counts["clin"]["inserted"] == 2 and counts["clin"]["rejected"] == 1
    assert [(f.code, f.row, f.severity) for f in findings] == [("KEY_COLLISION", 3, "error")]
    assert "CLIN 5" in findings[0].message and "row 2" in findings[0].message
    counts, findings = load(engine, contract_specs(), {"clin": [clin(7, 2, 9)]})
    assert counts["clin"]["rejected"] == 1
    assert [(f.code, f.row) for f in findings] == [("KEY_COLLISION", 9)] and "OPS already has CLIN 6" in findings[0].message
    with engine.connect() as conn:
        assert conn.execute(select(m.CLIN.id, m.CLIN.number).order_by(m.CLIN.id)).all() == [(4, 1), (6, 2)]


def test_the_invoice_of_a_line_refused_as_a_collision_never_lands_on_the_other_kinds_line(engine):
    load(engine, grant_specs(), {"budget_line_item": [bli("GRANT", 5, 1)]})
    lineage = {"file": "f" * 64, "sheet": "c.tsv", "rows": "2"}
    counts, findings = load(engine, contract_specs(), {
        "budget_line_item": [bli("CONTRACT", 5, 1, {"certified": False, "closed": False})],
        "invoice": [{"entity": "invoice", "key": {"budget_line": {"id": 5}}, "values": {"invoice_line_number": 1},
                     "links": {"budget_line": {"id": 5}}, "lineage": lineage}]})
    assert counts["invoice"]["rejected"] == 1
    assert [f.code for f in findings] == ["KEY_COLLISION", "BLI_ORPHAN"]
    with engine.connect() as conn:
        assert conn.execute(select(m.Invoice.id)).all() == []


def test_a_blank_cell_on_a_rerun_keeps_what_ops_holds_and_a_value_replaces_it(engine):
    load(engine, contract_specs(), {"budget_line_item": [
        bli("CONTRACT", 5, 1, {"certified": False, "closed": False, "comments": "keep me"})]})
    counts, _ = load(engine, contract_specs(), {"budget_line_item": [
        bli("CONTRACT", 5, 1, {"certified": False, "closed": False, "comments": None, "amount": "11.00"})]})
    assert counts["budget_line_item"]["updated"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(m.BudgetLineItem.comments, m.BudgetLineItem.amount)).one() == ("keep me", 11)
