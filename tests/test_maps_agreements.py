"""The four MAPS agreement datasets through the stages: recognised from their header, the small
export set loaded (and reloaded unchanged), the bad inputs reported cell by cell, unresolved
references counted by the entity they point to; on PostgreSQL, with OPS's history."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ops_pipeline.datasets.registry import get_dataset
from ops_pipeline.db import ops_models as m
from ops_pipeline.db.engine import make_engine
from ops_pipeline.maps import recognise_file
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.rundir import read_jsonl
from tests.maps_seed import seed_maps_parents

DATA = Path(__file__).parent / "data" / "maps"
FILES = {"contracts.tsv": "maps-contracts", "grants.tsv": "maps-grants", "iaas.tsv": "maps-iaas",
         "direct_obligations.tsv": "maps-direct-obligations"}


def _seeded(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            seed_maps_parents(conn)
    finally:
        engine.dispose()
    return url


def _counts(url: str, *tables) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables}
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_file_is_recognised_from_its_header(name):
    assert recognise_file(DATA / "small" / name).name == FILES[name]


def test_people_named_in_agreements_are_pii():
    assert get_dataset("maps-contracts").pii_fields() == {"psc_contract_specialist"}
    assert get_dataset("maps-iaas").pii_fields() == {"opre_poc", "agency_poc"}


def test_the_small_export_loads_each_kind_from_maps_id_1_and_a_rerun_changes_nothing(sqlite_url, runs_root):
    url = _seeded(sqlite_url)
    for name in FILES:
        outcome = run_pipeline(str(DATA / "small" / name), runs_root=runs_root, db_url=url)
        assert outcome.error is None, outcome.error.one_line()
        assert outcome.report["entities"]["agreement"]["inserted"] == 5
        assert outcome.report["findings"] == {}
    a = m.Agreement.__table__
    engine = make_engine(url)
    with engine.connect() as conn:
        pairs = set(conn.execute(select(a.c.agreement_type, a.c.maps_sys_id)).all())
    engine.dispose()
    assert pairs == {(kind, i) for kind in ("CONTRACT", "GRANT", "IAA", "DIRECT_OBLIGATION") for i in range(1, 6)}
    before = _counts(url, m.transaction_table, m.OpsEvent.__table__)
    again = run_pipeline(str(DATA / "small" / "grants.tsv"), runs_root=runs_root, db_url=url)
    assert again.report["entities"]["agreement"] == {"inserted": 0, "updated": 0, "unchanged": 5, "skipped": 0,
                                                     "rejected": 0}
    assert _counts(url, m.transaction_table, m.OpsEvent.__table__) == before


BAD = {
    "contracts.tsv": {("missing-value", "contracts.tsv:2:SYS_CONTRACT_ID"),
                      ("KEY_DUPLICATE", "contracts.tsv:4:SYS_CONTRACT_ID"),
                      ("BAD_ENUM", "contracts.tsv:5:ACQUISITION_TYPE"), ("BAD_ENUM", "contracts.tsv:5:CONTRACT_TYPE"),
                      ("bad-date", "contracts.tsv:5:CONTRACT_START_DATE"),
                      ("bad-date", "contracts.tsv:5:CONTRACT_END_DATE")},
    "grants.tsv": {("bad-date", "grants.tsv:2:GRANTS_START_DATE"), ("BAD_NUMBER", "grants.tsv:2:NUMBER_OF_GRANTS"),
                   ("missing-value", "grants.tsv:4:SYS_GRANTS_ID")},
    "iaas.tsv": {("KEY_DUPLICATE", "iaas.tsv:3:IAA_NAME")},
    "direct_obligations.tsv": {("BAD_NUMBER", "direct_obligations.tsv:3:SYS_DIRECT_OBLIGATION_ID")},
}
UNRESOLVED = {
    "contracts.tsv": {"project": {"references": 1, "records": 1}, "user": {"references": 1, "records": 1},
                      "vendor": {"references": 1, "records": 1},
                      "product service code (NAICS)": {"references": 1, "records": 1}},
    "grants.tsv": {"project": {"references": 1, "records": 1}, "user": {"references": 2, "records": 2}},
    "iaas.tsv": {"IAA customer agency": {"references": 1, "records": 1}},
    "direct_obligations.tsv": {"project": {"references": 1, "records": 1}},
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_rows_are_findings_with_their_cells_and_unknown_references_are_counted_by_what_they_name(
        name, sqlite_url, runs_root):
    url = _seeded(sqlite_url)
    refused = run_pipeline(str(DATA / "bad" / name), runs_root=runs_root, db_url=url)
    assert refused.error is not None and "rejected" in refused.error.one_line()
    outcome = run_pipeline(str(DATA / "bad" / name), runs_root=runs_root, db_url=url, accept_rejects=True)
    assert outcome.error is None, outcome.error.one_line()
    found = {(f["code"], f["cell"]) for f in read_jsonl(outcome.run.path / "validate" / "findings.jsonl")}
    assert found == BAD[name]
    assert outcome.report["findings"]["REF_UNRESOLVED"] == sum(n["references"] for n in UNRESOLVED[name].values())
    assert outcome.report["unresolved"] == UNRESOLVED[name]
    assert outcome.report["entities"]["agreement"]["inserted"] == 1
    assert "## References to records OPS does not have" in (outcome.run.path / "report" / "report.md").read_text()


@pytest.mark.postgres
def test_on_postgresql_the_small_export_loads_with_opss_history_and_reloads_with_none(pg_schema_url, runs_root):
    url = _seeded(pg_schema_url)
    for name in FILES:
        outcome = run_pipeline(str(DATA / "small" / name), runs_root=runs_root, db_url=url)
        assert outcome.error is None, outcome.error.one_line()
    e, h = m.OpsEvent.__table__, m.AgreementHistory.__table__
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            events = dict(conn.execute(select(e.c.event_type, func.count()).group_by(e.c.event_type)).all())
            lines = dict(conn.execute(select(h.c.history_type, func.count()).group_by(h.c.history_type)).all())
            iaa = conn.execute(select(m.IaaAgreement.__table__.c.direction).distinct()).scalars().all()
            psc = conn.execute(select(m.Agreement.__table__.c.product_service_code_id).where(
                m.Agreement.__table__.c.maps_sys_id == 2, m.Agreement.__table__.c.agreement_type == "CONTRACT")).scalar()
    finally:
        engine.dispose()
    assert events == {"CREATE_NEW_AGREEMENT": 20} and lines == {"AGREEMENT_CREATED": 20}
    assert iaa == ["OUTGOING"] and psc == 2  # NAICS 561920 is OPS's seeded PSC 2
    before = _counts(url, m.transaction_table, m.OpsEvent.__table__, m.OpsDBHistory.__table__)
    again = run_pipeline(str(DATA / "small" / "contracts.tsv"), runs_root=runs_root, db_url=url)
    assert again.report["entities"]["agreement"]["unchanged"] == 5
    assert _counts(url, m.transaction_table, m.OpsEvent.__table__, m.OpsDBHistory.__table__) == before
