"""The entity layer as the MAPS agreement datasets use it: subtype columns (a contract's vendor
lives on ``contract_agreement``), the (type, MAPS id) key, the name OPS holds unique checked
before writing (KEY_COLLISION), optional references (REF_UNRESOLVED) and blank cells on update.

Staged records go straight to :class:`ops_pipeline.db.entities.Loader`, on the SQLite OPS subset.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, insert, select

from ops_pipeline.datasets.maps_contracts import contract_spec, maps_agreement_spec, reference_specs
from ops_pipeline.db import history as ops_history
from ops_pipeline.db import ops_models as m
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.entities import Link, Loader
from ops_pipeline.findings import CODES
from tests.maps_seed import seed_maps_parents

NOW = dt.datetime(2026, 11, 29, 12, 0, 0)
CODES_HERE = {**CODES, "KEY_COLLISION": ("error", "x"), "REF_UNRESOLVED": ("warning", "x")}


def contract(sys_id, name, rows="2", *, project=1, vendor=1, psc=541690, cotr=2, **values):
    staged = {"name": name, "agreement_type": "CONTRACT", "maps_sys_id": sys_id, "start_date": "2020-09-30",
              "end_date": None, "contract_number": "HHSP-1", "task_order_number": None, "po_number": None,
              "acquisition_type": "TASK_ORDER", "contract_type": "FIRM_FIXED_PRICE",
              "psc_contract_specialist": None}
    staged.update(values)
    links = {"project": {"id": project} if project else None, "vendor": {"id": vendor} if vendor else None,
             "product_service_code": {"naics": psc} if psc else None, "cotr": {"id": cotr} if cotr else None}
    return {"entity": "agreement", "key": {"agreement_type": "CONTRACT", "maps_sys_id": sys_id}, "values": staged,
            "links": links, "lineage": {"file": "f" * 64, "sheet": "contracts.tsv", "rows": rows}}


@pytest.fixture
def engine(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        seed_maps_parents(conn)
    yield engine
    engine.dispose()


def load(engine, records, history=True):
    with engine.begin() as conn:
        recorder = ops_history.History(conn, now=NOW)
        recorder.user_id = ops_history.system_user(conn, history=recorder)
        loader = Loader(conn, (*reference_specs(), contract_spec()), user_id=recorder.user_id, now=NOW,
                        recorder=recorder, columns={"sys_vendor_id": "SYS_VENDOR_ID", "contract_name": "CONTRACT_NAME"},
                        codes=CODES_HERE)
        counts = loader.load({"agreement": records})
        written = recorder.flush() or {}
    return counts["agreement"], loader.findings, written


def stored(engine):
    a, c = m.Agreement.__table__, m.ContractAgreement.__table__
    with engine.connect() as conn:
        return {r.maps_sys_id: r._asdict() for r in conn.execute(
            select(a.c.id, a.c.name, a.c.maps_sys_id, a.c.project_id, a.c.product_service_code_id, a.c.start_date,
                   c.c.vendor_id, c.c.cotr_id, c.c.contract_number, c.c.acquisition_type, c.c.delivered_status)
            .join(c, c.c.id == a.c.id))}


def test_a_contract_writes_its_subtype_columns_and_a_rerun_changes_nothing(engine):
    counts, findings, written = load(engine, [contract(1, "Alpha"), contract(2, "Beta", vendor=2, psc=561920)])
    assert counts["inserted"] == 2 and findings == []
    rows = stored(engine)
    assert rows[1]["vendor_id"] == 1 and rows[2]["vendor_id"] == 2
    assert rows[2]["product_service_code_id"] == 2 and rows[1]["cotr_id"] == 2
    assert rows[1]["contract_number"] == "HHSP-1" and rows[1]["delivered_status"] is False
    assert written["contract_agreement_version"] == 2 and written["ops_event"] >= 2

    counts, findings, written = load(engine, [contract(1, "Alpha"), contract(2, "Beta", vendor=2, psc=561920)])
    assert counts == {"inserted": 0, "updated": 0, "unchanged": 2, "skipped": 0, "rejected": 0}
    assert written == {}


def test_a_changed_subtype_value_updates_it_and_a_blank_one_keeps_what_ops_has(engine):
    load(engine, [contract(1, "Alpha")])
    counts, _, written = load(engine, [contract(1, "Alpha", vendor=3, contract_number=None)])
    assert counts["updated"] == 1
    row = stored(engine)[1]
    assert row["vendor_id"] == 3 and row["contract_number"] == "HHSP-1"
    assert written["contract_agreement_version"] == 1
    with engine.connect() as conn:
        events = conn.execute(select(m.OpsEvent.event_type).order_by(m.OpsEvent.id)).scalars().all()
    assert events[-1] == "UPDATE_AGREEMENT"


def test_an_unknown_reference_is_a_warning_and_the_contract_loads_without_it(engine):
    counts, findings, _ = load(engine, [contract(1, "Alpha", vendor=99, psc=111111)])
    assert counts["inserted"] == 1
    assert sorted((f.code, f.severity, f.field) for f in findings) == [
        ("REF_UNRESOLVED", "warning", "psc_code"), ("REF_UNRESOLVED", "warning", "sys_vendor_id")]
    assert {f.column for f in findings if f.field == "sys_vendor_id"} == {"SYS_VENDOR_ID"}
    row = stored(engine)[1]
    assert row["vendor_id"] is None and row["product_service_code_id"] is None


def test_a_name_an_agreement_created_in_ops_holds_is_a_key_collision_never_an_overwrite(engine):
    with engine.begin() as conn:
        conn.execute(insert(m.Agreement.__table__).values(id=700, agreement_type="CONTRACT", name="Alpha", notes=""))
        conn.execute(insert(m.ContractAgreement.__table__).values(id=700, delivered_status=False))
    counts, findings, _ = load(engine, [contract(1, "ALPHA"), contract(2, "Beta")])
    assert counts["rejected"] == 1 and counts["inserted"] == 1
    (finding,) = findings
    assert (finding.code, finding.severity, finding.row, finding.column) == ("KEY_COLLISION", "error", 2,
                                                                            "CONTRACT_NAME")
    assert "created in OPS" in finding.message and "700" in finding.message
    with engine.connect() as conn:
        assert conn.execute(select(m.Agreement.maps_sys_id).where(m.Agreement.id == 700)).scalar() is None


def test_two_rows_with_one_name_or_a_name_another_maps_agreement_has_are_key_collisions(engine):
    load(engine, [contract(1, "Alpha")])
    counts, findings, _ = load(engine, [contract(1, "Alpha"), contract(2, "alpha", rows="3"),
                                        contract(3, "Gamma", rows="4"), contract(4, "GAMMA", rows="5")])
    assert counts["rejected"] == 2
    assert sorted((f.code, f.row) for f in findings) == [("KEY_COLLISION", 3), ("KEY_COLLISION", 5)]
    assert "row 4" in next(f.message for f in findings if f.row == 5)


def test_a_budget_line_finds_its_agreement_by_type_and_maps_id(engine):
    load(engine, [contract(1, "Alpha")])
    with engine.connect() as conn:
        loader = Loader(conn, (maps_agreement_spec(),), user_id=None, now=NOW)
        spec = loader.specs["agreement"]
        loader.resolve(spec, {("CONTRACT", 1), ("GRANT", 1)})
        assert set(loader.ids["agreement"]) == {("CONTRACT", 1)}
        assert loader.ids["agreement"][("CONTRACT", 1)] == stored(engine)[1]["id"]
    assert Link("agreement", "agreement", "agreement_id", missing="reject").target == spec.name


def test_a_maps_agreement_never_matches_one_without_a_maps_id(engine):
    with engine.begin() as conn:
        conn.execute(insert(m.Agreement.__table__).values(id=700, agreement_type="CONTRACT", name="OPS own",
                                                          notes=""))
        conn.execute(insert(m.ContractAgreement.__table__).values(id=700, delivered_status=False))
    load(engine, [contract(1, "Alpha")])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(m.Agreement.__table__)).scalar() == 2


@pytest.mark.postgres
def test_on_postgresql_history_records_created_and_updated_contracts_with_their_subtype_columns(ops_pg_url):
    engine = make_engine(ops_pg_url)
    try:
        with engine.begin() as conn:
            seed_maps_parents(conn)
        _, findings, written = load(engine, [contract(1, "Alpha"), contract(2, "Beta", vendor=2)])
        assert findings == []
        assert {k: written[k] for k in ("agreement_version", "contract_agreement_version", "ops_event",
                                        "agreement_history")} == {"agreement_version": 2,
                                                                  "contract_agreement_version": 2,
                                                                  "ops_event": 2, "agreement_history": 2}
        _, _, written = load(engine, [contract(1, "Alpha", vendor=3), contract(2, "Beta", vendor=2)])
        assert written["contract_agreement_version"] == 1 and written["ops_event"] == 1
        alpha = stored(engine)[1]["id"]
        e, h, v = m.OpsEvent.__table__, m.OpsDBHistory.__table__, m.version_table("contract_agreement")
        with engine.connect() as conn:
            events = conn.execute(select(e.c.event_type, e.c.event_details).order_by(e.c.id)).all()
            assert [t for t, _ in events] == ["CREATE_NEW_AGREEMENT", "CREATE_NEW_AGREEMENT", "UPDATE_AGREEMENT"]
            created = {d["New Agreement"]["maps_sys_id"]: d["New Agreement"] for _, d in events[:2]}
            assert created[2]["vendor_id"] == 2 and created[1]["contract_number"] == "HHSP-1"
            assert events[2][1]["agreement_updates"]["changes"]["vendor_id"] == {"new_value": 3, "old_value": 1}
            news = conn.execute(select(h.c.class_name, h.c.event_type, h.c.changes).where(
                h.c.row_key == str(alpha)).order_by(h.c.id)).all()
            assert [(c, t) for c, t, _ in news] == [("ContractAgreement", "NEW"), ("ContractAgreement", "UPDATED")]
            assert news[0][2]["vendor_id"] == {"new": 1} and news[1][2] == {"vendor_id": {"new": 3, "old": 1}}
            versions = conn.execute(select(v.c.vendor_id, v.c.operation_type, v.c.end_transaction_id.is_(None))
                                    .where(v.c.id == alpha).order_by(v.c.transaction_id)).all()
            assert versions == [(1, 0, False), (3, 1, True)]
    finally:
        engine.dispose()


def test_a_spec_keyed_by_id_reads_compares_and_updates_its_subtype_columns(engine):
    """The same subtype-column path for records matched by their own id (budget lines)."""
    from ops_pipeline.db.entities import EntitySpec, Key, Subtype

    spec = EntitySpec(
        "budget_line_item", m.BudgetLineItem, Key(by_id="id"), fields=("line_description", "psc_fee_doc_number"),
        subtype=Subtype("budget_line_item_type", {"CONTRACT": m.ContractBudgetLineItem}, default="CONTRACT",
                        columns={"CONTRACT": ("psc_fee_doc_number",)}),
        defaults={"on_hold": False, "certified": False, "closed": False}, update="all")

    def run(doc):
        rec = {"entity": "budget_line_item", "key": {"id": 15001},
               "values": {"line_description": "Year 1", "psc_fee_doc_number": doc},
               "lineage": {"file": "f" * 64, "sheet": "lines.tsv", "rows": "2"}}
        with engine.begin() as conn:
            counts = Loader(conn, (spec,), user_id=None, now=NOW).load({"budget_line_item": [rec]})
            stored = conn.execute(select(m.ContractBudgetLineItem.__table__.c.psc_fee_doc_number)).scalars().all()
        return counts["budget_line_item"], stored

    assert run("DOC-1")[0]["inserted"] == 1
    counts, stored = run("DOC-1")
    assert counts["unchanged"] == 1 and stored == ["DOC-1"]
    counts, stored = run("DOC-2")
    assert counts["updated"] == 1 and stored == ["DOC-2"]
