"""The four MAPS budget-line exports through the stages, on the SQLite OPS subset (PostgreSQL, with
OPS's history, at the end): each line under the agreement of its own kind and MAPS id, per-kind
values where OPS keeps them, and every bad or lost value a coded finding naming file:line:COLUMN."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ops_pipeline.db import ops_models as m
from ops_pipeline.db.engine import make_engine
from ops_pipeline.errors import DataInvalid
from ops_pipeline.maps import recognise_file
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.rundir import read_jsonl
from tests.maps_line_parents import agreement_id, seed_line_parents
from tests.conftest import db_rows as rows

DATA = Path(__file__).parent / "data" / "maps"
SMALL = ("contract_budget_lines", "grant_budget_lines", "iaa_budget_lines", "direct_obligation_budget_lines")


@pytest.fixture
def db(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        seed_line_parents(conn)
    engine.dispose()
    return sqlite_url


def run(path: Path, runs_root, url, **options):
    return run_pipeline(str(path), runs_root=runs_root, db_url=url, **options)


def findings(outcome) -> set[tuple[str, str]]:
    found = set()
    for stage in ("validate", "load"):
        path = outcome.run.path / stage / "findings.jsonl"
        if path.exists():
            found |= {(f["code"], f.get("cell")) for f in read_jsonl(path)}
    return found


@pytest.mark.parametrize("name", SMALL)
def test_each_export_is_recognised_from_its_header(name):
    assert recognise_file(DATA / "small" / f"{name}.tsv").name == "maps-" + name.replace("_", "-")


def test_the_small_export_loads_each_line_under_its_own_kinds_agreement_and_a_rerun_changes_nothing(db, runs_root):
    for name in SMALL:
        outcome = run(DATA / "small" / f"{name}.tsv", runs_root, db)
        assert outcome.error is None, outcome.error
    lines = {r.id: r for r in rows(db, select(m.BudgetLineItem.__table__))}
    assert sorted(lines) == [1, 2, 3, 4, 5, 6, 100, 101, 102, 103, 104, 200, 201, 202, 203, 300, 301, 302]
    assert {lines[i].budget_line_item_type for i in (1, 100, 200, 300)} == {"CONTRACT", "GRANT", "IAA",
                                                                          "DIRECT_OBLIGATION"}
    # The same MAPS id (1) names four agreements; each line is under the one of its own kind.
    assert [lines[i].agreement_id for i in (1, 100, 200, 300)] == [
        agreement_id("CONTRACT", 1), agreement_id("GRANT", 1), agreement_id("IAA", 1),
        agreement_id("DIRECT_OBLIGATION", 1)]
    assert lines[3].agreement_id == agreement_id("CONTRACT", 2)
    one, three = lines[1], lines[3]
    assert (one.amount, one.proc_shop_fee_percentage, one.certified, one.on_hold) == (
        Decimal("1250000.00"), Decimal("0.00500"), True, False)
    assert (three.closed, three.closed_by, three.closed_date.isoformat(), three.object_class_code_id) == (
        True, 3, "2024-04-30", 10)
    assert lines[4].on_hold is True and lines[2].certified is False and lines[2].closed is False
    # IAA: a blank fee rate and a blank document flag stay blank (the old loader made them 0 / true).
    assert (lines[202].proc_shop_fee_percentage, lines[202].doc_received) == (None, None)
    assert lines[201].doc_received is False
    grant = {r.id: r for r in rows(db, select(m.GrantBudgetLineItem.__table__))}
    assert grant[100].details_id == grant[101].details_id is not None and grant[100].bns_number == "BNS-100"
    assert grant[103].details_id is None
    (detail,) = rows(db, select(m.GrantBudgetLineItemDetail.__table__).where(
        m.GrantBudgetLineItemDetail.id == grant[100].details_id))
    assert (detail.grantee_name, detail.educational_institution, detail.state_code) == (
        "Riverside University", True, "MD")
    contract = {r.id: r for r in rows(db, select(m.ContractBudgetLineItem.__table__))}
    mods = {r.id: r for r in rows(db, select(m.AgreementMod.__table__))}
    assert contract[1].mod_id == contract[2].mod_id and mods[contract[1].mod_id].mod_type == "NEW"
    assert mods[contract[6].mod_id].mod_type == "ADMIN" and contract[1].psc_fee_doc_number == "FEE-0001"
    assert rows(db, select(m.CLIN.id, m.CLIN.agreement_id, m.CLIN.name)) == [(1, 1, "SC1")]
    assert rows(db, select(m.Invoice.budget_line_item_id, m.Invoice.invoice_line_number)) == [(1, 1)]
    direct = {r.id: r.receiving_agency for r in rows(db, select(m.DirectObligationBudgetLineItem.__table__))}
    assert direct[300] == "Census Bureau"

    again = run(DATA / "small" / "contract_budget_lines.tsv", runs_root, db)
    counts = again.run.stage_info("load")["counts"]
    assert counts["budget_line_item"] == {"inserted": 0, "updated": 0, "unchanged": 6, "skipped": 0, "rejected": 0}
    assert counts["agreement_mod"]["unchanged"] == 2 and counts["invoice"]["unchanged"] == 1


def test_every_bad_value_is_a_coded_finding_on_its_cell_and_nothing_loads(db, runs_root):
    outcome = run(DATA / "bad" / "contract_budget_lines_bad_values.tsv", runs_root, db)
    assert isinstance(outcome.error, DataInvalid)
    cell = "contract_budget_lines_bad_values.tsv:{}:{}".format
    assert findings(outcome) >= {
        ("BAD_ENUM", cell(2, "STATUS")), ("bad-date", cell(3, "DATE_NEEDED")), ("bad-amount", cell(4, "AMOUNT")),
        ("BAD_NUMBER", cell(5, "OVERWRITE_PSC_FEE_RATE")), ("BAD_NUMBER", cell(6, "OVERWRITE_PSC_FEE_RATE")),
        ("BAD_BOOLEAN", cell(7, "CERTIFIED")), ("BAD_ENUM", cell(8, "SYS_TYPE_OF_MODE_ID")),
        ("ID_OUT_OF_RANGE", cell(9, "SYS_BUDGET_ID")), ("KEY_DUPLICATE", cell(10, "SYS_BUDGET_ID")),
        ("BAD_BOOLEAN", cell(11, "CLOSED")),
    }
    assert rows(db, select(func.count()).select_from(m.BudgetLineItem.__table__)) == [(0,)]


def test_a_row_cut_short_before_its_amount_is_truncated(db, runs_root):
    outcome = run(DATA / "bad" / "contract_budget_lines_truncated.tsv", runs_root, db)
    assert ("ROW_TRUNCATED", "contract_budget_lines_truncated.tsv:3:AMOUNT") in findings(outcome)
    rejected = [r["row"] for r in read_jsonl(outcome.run.path / "validate" / "rejected.jsonl")]
    assert rejected == [3]


def test_a_grantee_state_must_be_exact_and_the_institution_flag_a_yes_or_no(db, runs_root):
    outcome = run(DATA / "bad" / "grant_budget_lines_bad_grantee.tsv", runs_root, db)
    cell = "grant_budget_lines_bad_grantee.tsv:{}:{}".format
    assert findings(outcome) >= {("BAD_ENUM", cell(2, "STATE_CODE")), ("BAD_ENUM", cell(3, "STATE_CODE")),
                                 ("BAD_BOOLEAN", cell(4, "EDUCATIONAL_INSTITUTE"))}


def test_a_direct_obligation_line_without_its_parent_is_refused_never_an_orphan(db, runs_root):
    path = DATA / "bad" / "direct_obligation_budget_lines_orphan.tsv"
    outcome = run(path, runs_root, db)
    assert isinstance(outcome.error, DataInvalid)
    assert "direct_obligation_budget_lines_orphan.tsv:2:SYS_DIRECT_OBLIGATION_ID" in str(outcome.error)
    assert rows(db, select(func.count()).select_from(m.BudgetLineItem.__table__)) == [(0,)]
    # The refusal quotes its first finding; every one of them is in load/refused.jsonl.
    refused = [(f["code"], f["cell"]) for f in read_jsonl(outcome.run.path / "load" / "refused.jsonl")]
    assert ("BLI_ORPHAN", "direct_obligation_budget_lines_orphan.tsv:2:SYS_DIRECT_OBLIGATION_ID") in refused
    assert "refused.jsonl" in outcome.error.hint
    # Loading the rest on purpose: the orphan is left out with its code, the other line is in.
    outcome = run(path, runs_root, db, accept_rejects=True)
    assert ("BLI_ORPHAN", "direct_obligation_budget_lines_orphan.tsv:2:SYS_DIRECT_OBLIGATION_ID") in findings(outcome)
    assert rows(db, select(m.BudgetLineItem.id, m.BudgetLineItem.agreement_id)) == [
        (311, agreement_id("DIRECT_OBLIGATION", 1))]


def test_unknown_can_and_object_class_code_are_warnings_and_the_line_loads_without_them(db, runs_root):
    outcome = run(DATA / "bad" / "direct_obligation_budget_lines_unknown_refs.tsv", runs_root, db)
    assert outcome.error is None, outcome.error
    cell = "direct_obligation_budget_lines_unknown_refs.tsv:2:{}".format
    assert findings(outcome) >= {("REF_UNRESOLVED", cell("SYS_CAN_ID")), ("REF_UNRESOLVED", cell("OBJECT_CLASS_CODE"))}
    assert rows(db, select(m.BudgetLineItem.can_id, m.BudgetLineItem.object_class_code_id)) == [(None, None)]


def test_a_line_id_another_kind_already_holds_is_a_key_collision_never_an_overwrite(db, runs_root):
    assert run(DATA / "small" / "contract_budget_lines.tsv", runs_root, db).error is None
    path = DATA / "bad" / "iaa_budget_lines_collision.tsv"
    outcome = run(path, runs_root, db)
    assert isinstance(outcome.error, DataInvalid) and "OPS holds it as a CONTRACT record" in str(outcome.error)
    kinds = dict(rows(db, select(m.BudgetLineItem.id, m.BudgetLineItem.budget_line_item_type)))
    assert kinds[1] == "CONTRACT" and 210 not in kinds  # the whole file is refused
    outcome = run(path, runs_root, db, accept_rejects=True)
    assert ("KEY_COLLISION", "iaa_budget_lines_collision.tsv:2") in findings(outcome)
    kinds = dict(rows(db, select(m.BudgetLineItem.id, m.BudgetLineItem.budget_line_item_type)))
    assert (kinds[1], kinds[210]) == ("CONTRACT", "IAA")


# -- PostgreSQL: OPS's real schema, constraints and history ----------------------------------------

@pytest.mark.postgres
def test_on_ops_postgresql_the_lines_load_with_opss_history_and_a_rerun_records_none(pg_schema_url, tmp_path):
    from sqlalchemy import text

    url = pg_schema_url
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            seed_line_parents(conn)
        for name in SMALL:
            outcome = run(DATA / "small" / f"{name}.tsv", tmp_path / "runs", url)
            assert outcome.error is None, outcome.error.one_line()

        def count(sql: str) -> int:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar()

        assert count("SELECT count(*) FROM ops.ops_event WHERE event_type = 'CREATE_BLI'") == 18
        with engine.connect() as conn:
            classes = dict(conn.execute(text("SELECT class_name, count(*) FROM ops.ops_db_history "
                                             "WHERE event_type = 'NEW' GROUP BY class_name")).all())
        assert {k: classes.get(k) for k in ("ContractBudgetLineItem", "GrantBudgetLineItem", "IAABudgetLineItem",
                                             "DirectObligationBudgetLineItem", "GrantBudgetLineItemDetail",
                                             "AgreementMod", "CLIN", "Invoice")} == {
            "ContractBudgetLineItem": 6, "GrantBudgetLineItem": 5, "IAABudgetLineItem": 4,
            "DirectObligationBudgetLineItem": 3, "GrantBudgetLineItemDetail": 3, "AgreementMod": 2, "CLIN": 1,
            "Invoice": 1}
        assert count("SELECT count(*) FROM ops.budget_line_item_version WHERE operation_type = 0") == 18
        assert count("SELECT count(*) FROM ops.grant_budget_line_item_version") == 5
        assert count("SELECT count(*) FROM ops.agreement_history WHERE history_type = 'BUDGET_LINE_ITEM_CREATED'") == 18
        history = count("SELECT count(*) FROM ops.ops_db_history")

        for name in SMALL:  # the same export again: nothing changes, nothing is recorded
            assert run(DATA / "small" / f"{name}.tsv", tmp_path / "runs", url).error is None
        assert count("SELECT count(*) FROM ops.ops_db_history") == history

        # A changed amount is an update of that line: UPDATE_BLI, as OPS words it.
        changed = tmp_path / "iaa_budget_lines.tsv"
        changed.write_text((DATA / "small" / "iaa_budget_lines.tsv").read_text().replace("45000.00", "46000.00"))
        outcome = run(changed, tmp_path / "runs", url)
        assert outcome.error is None and outcome.report["entities"]["budget_line_item"]["updated"] == 1
        assert count("SELECT count(*) FROM ops.ops_event WHERE event_type = 'UPDATE_BLI' "
                     "AND event_details -> 'bli_updates' ->> 'owner_id' = '201'") == 1
        assert count("SELECT amount FROM ops.budget_line_item WHERE id = 201") == Decimal("46000.00")
    finally:
        engine.dispose()


def test_a_line_without_a_maps_id_gets_an_ops_id_and_is_found_again_on_a_rerun(db, runs_root, tmp_path):
    path = tmp_path / "contract_budget_lines.tsv"
    path.write_text("SYS_CONTRACT_ID\tSYS_BUDGET_ID\tLINE_DESCRIPTION\tDATE_NEEDED\tSYS_CAN_ID\tAMOUNT\tSTATUS\n"
                    "1\t\tYear 1\t2025-01-15\t1\t10.00\tPLANNED\n"
                    "1\t\tYear 1\t2025-01-15\t1\t10.00\tPLANNED\n"  # the same twice: two lines
                    "2\t7\tWith an id\t\t\t\tDRAFT\n")
    first = run(path, runs_root, db)
    assert first.error is None, first.error
    ids = sorted(i for (i,) in rows(db, select(m.BudgetLineItem.id)))
    assert ids[0] == 7 and ids[1:] and all(i >= 15000 for i in ids[1:]) and len(ids) == 3
    again = run(path, runs_root, db)
    assert again.run.stage_info("load")["counts"]["budget_line_item"]["unchanged"] == 3
    assert sorted(i for (i,) in rows(db, select(m.BudgetLineItem.id))) == ids
