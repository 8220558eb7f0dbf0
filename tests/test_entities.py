"""The generic entity layer: declared entities, one upsert, links resolved against OPS itself.

These drive :class:`ops_pipeline.db.entities.Loader` directly with staged records (the shape
transform writes), on the SQLite OPS subset ``db init`` makes.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from ops_pipeline.datasets.budget_workbook import budget_entities
from ops_pipeline.db import history as ops_history
from ops_pipeline.db import ops_models as m
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.entities import EntitySpec, Key, Link, Loader, NoHistory, SpecError, Subtype

NOW = dt.datetime(2026, 11, 29, 12, 0, 0)


def record(entity, key, values, links=None, rows="5"):
    return {"entity": entity, "key": key, "values": values, "links": links or {},
            "lineage": {"file": "f" * 64, "sheet": "All Budget - Cur", "rows": rows}}


def line(amount, can=None, agreement=None, line_id=None, rows="5"):
    links = {"can": {"number": can} if can else None,
             "agreement": {"name": agreement[0], "agreement_type": agreement[1]} if agreement else None}
    return record("budget_line_item", {"id": line_id} if line_id else None,
                  {"line_description": "Year 1", "comments": None, "amount": amount, "date_needed": "2025-03-11",
                   "status": "PLANNED"}, links, rows)


def can(number, portfolio="HMRF", description=None):
    return record("can", {"number": number}, {"number": number, "description": description},
                  {"portfolio": {"abbreviation": portfolio} if portfolio else None})


def agreement(name, kind="CONTRACT"):
    return record("agreement", {"name": name, "agreement_type": kind}, {"name": name, "agreement_type": kind})


@pytest.fixture
def engine(sqlite_url):
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def load(engine, files, specs=None, columns=None, history=False):
    with engine.begin() as conn:
        recorder = NoHistory()
        user = None
        if history:
            recorder = ops_history.History(conn, now=NOW)
            user = recorder.user_id = ops_history.system_user(conn, history=recorder)
        loader = Loader(conn, specs or budget_entities(), user_id=user, now=NOW, recorder=recorder,
                        columns=columns or {})
        counts = loader.load(files)
        recorder.flush()
    return counts, loader.findings


def test_a_new_budget_line_is_a_parent_row_and_its_subtype_row_with_one_id_as_ops_writes_it(engine):
    counts, findings = load(engine, {"can": [can("G99HRF2")], "agreement": [agreement("Study", "GRANT")],
                                     "budget_line_item": [line("100.50", "G99HRF2", ("Study", "GRANT"))]},
                            history=True)
    assert findings == []
    assert counts["budget_line_item"]["inserted"] == 1
    with engine.connect() as conn:
        system = conn.execute(select(m.User.id).where(m.User.email == "system.admin@email.com")).scalar_one()
        parent = conn.execute(select(m.BudgetLineItem.__table__)).one()
        assert parent.budget_line_item_type == "GRANT"  # from its agreement's type
        assert (parent.on_hold, parent.certified, parent.closed) == (False, False, False)  # OPS's ORM defaults
        assert (parent.created_by, parent.updated_by, parent.created_on) == (system, system, NOW)
        assert conn.execute(select(m.GrantBudgetLineItem.__table__.c.id)).scalars().all() == [parent.id]
        assert conn.execute(select(m.ContractBudgetLineItem.__table__.c.id)).scalars().all() == []
        agreement_row = conn.execute(select(m.Agreement.__table__)).one()
        assert (agreement_row.agreement_type, agreement_row.notes) == ("GRANT", "")
        assert conn.execute(select(m.GrantAgreement.__table__.c.id)).scalars().all() == [agreement_row.id]


def test_a_link_resolves_against_what_an_earlier_load_put_in_ops(engine):
    load(engine, {"can": [can("G99HRF2")], "agreement": [agreement("Study")]})
    # A later file that stages only lines: its CAN and agreement are found in OPS.
    counts, findings = load(engine, {"budget_line_item": [line("5.00", "G99HRF2", ("study", "CONTRACT"))]})
    assert findings == [] and counts["budget_line_item"]["inserted"] == 1
    with engine.connect() as conn:
        stored = conn.execute(select(m.BudgetLineItem.can_id, m.BudgetLineItem.agreement_id)).one()
        assert stored == (conn.execute(select(m.CAN.id)).scalar(), conn.execute(select(m.Agreement.id)).scalar())


def test_an_optional_link_ops_lacks_is_a_warning_with_its_cell_never_a_silent_null(engine):
    counts, findings = load(engine, {"budget_line_item": [line("5.00", "G99NONE", rows="7")]},
                            columns={"can": "A"})
    assert counts["budget_line_item"]["inserted"] == 1
    [finding] = findings
    assert (finding.code, finding.severity, finding.cell, finding.value) == (
        "unresolved-link", "warning", "All Budget - Cur!A7", "G99NONE")
    assert finding.message == "CAN G99NONE is not in OPS; the budget line is loaded without it"


def test_a_required_link_ops_lacks_rejects_the_record_with_an_error(engine):
    strict = tuple(
        EntitySpec(s.name, s.model, s.key, s.fields, tuple(
            Link(k.name, k.target, k.column, missing="reject", field=k.field) if k.name == "can" else k
            for k in s.links), s.subtype, s.update, s.defaults, s.insert, s.not_loaded, s.label)
        for s in budget_entities())
    counts, findings = load(engine, {"budget_line_item": [line("5.00", "G99NONE", rows="9"), line("6.00")]},
                            specs=strict, columns={"can": "A"})
    assert counts["budget_line_item"] == {"inserted": 1, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 1}
    [finding] = findings
    assert (finding.code, finding.severity, finding.cell) == ("unresolved-link", "error", "All Budget - Cur!A9")
    with engine.connect() as conn:
        assert conn.execute(select(m.BudgetLineItem.amount)).scalars().all() == [6]


def test_a_can_without_a_known_portfolio_is_not_created_and_its_lines_say_so(engine):
    counts, findings = load(engine, {"can": [can("G99NODS", portfolio=None)],
                                     "budget_line_item": [line("5.00", "G99NODS", rows="3"),
                                                          line("6.00", "G99NODS", rows="4")]},
                            columns={"can": "A"})
    assert counts["can"]["skipped"] == 1 and counts["budget_line_item"]["inserted"] == 2
    assert [(f.code, f.severity, f.row) for f in findings] == [
        ("can-without-portfolio", "warning", 5), ("unresolved-link", "warning", 3), ("unresolved-link", "warning", 4)]


def test_an_entity_file_no_declaration_loads_is_an_error_not_a_silent_skip(engine):
    with pytest.raises(SpecError, match="^no entity spec of this dataset loads vendor$"):
        load(engine, {"vendor": [record("vendor", {"name": "Acme"}, {"name": "Acme"})]})
    with pytest.raises(SpecError, match="^no entity spec of this dataset loads portfolio$"):  # looked up, never written
        load(engine, {"portfolio": [record("portfolio", {"abbreviation": "X"}, {"abbreviation": "X"})]})


def test_a_staged_value_that_is_no_column_is_an_error(engine):
    staged = can("G99HRF2")
    staged["values"]["colour"] = "red"
    with pytest.raises(SpecError, match="^staged can values have no column: colour$"):
        load(engine, {"can": [staged]})


def test_update_policies_given_values_never_blank_a_stored_one_and_never_means_never(engine):
    load(engine, {"can": [can("G99HRF2", description="HMRF")], "project": [
        record("project", {"title": "Study"}, {"title": "Study", "project_type": "RESEARCH"})]})
    counts, _ = load(engine, {"can": [can("G99HRF2", description=None)], "project": [
        record("project", {"title": "STUDY "}, {"title": "STUDY ", "project_type": "RESEARCH"})]})
    assert counts["can"]["unchanged"] == 1 and counts["project"]["unchanged"] == 1
    counts, _ = load(engine, {"can": [can("G99HRF2", description="HMRF 5 YR")]})
    assert counts["can"]["updated"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(m.CAN.description)).scalar() == "HMRF 5 YR"
        assert conn.execute(select(m.Project.title)).scalars().all() == ["Study"]


def test_a_stored_line_never_changes_kind_it_is_rejected_with_an_error(engine):
    load(engine, {"agreement": [agreement("Study", "GRANT"), agreement("Study", "CONTRACT")],
                  "budget_line_item": [line("5.00", agreement=("Study", "GRANT"), line_id=15001)]})
    counts, findings = load(engine, {"budget_line_item": [line("5.00", agreement=("Study", "CONTRACT"),
                                                               line_id=15001)]})
    assert counts["budget_line_item"]["rejected"] == 1
    assert [(f.code, f.severity) for f in findings] == [("cannot-load", "error")]
    assert "OPS holds it as a GRANT record; it cannot become CONTRACT" in findings[0].message


def test_a_subtype_ops_needs_more_for_is_not_created(engine):
    counts, findings = load(engine, {"agreement": [agreement("Shared", "AA")]})
    assert counts["agreement"]["skipped"] == 1
    assert [(f.code, f.severity) for f in findings] == [("not-created", "warning")]
    spec = next(s for s in budget_entities() if s.name == "agreement")
    assert isinstance(spec.subtype, Subtype) and "AA" in spec.subtype.refuse and isinstance(spec.key, Key)


def test_a_derived_column_follows_its_link_when_a_stored_record_changes(engine):
    # A line moved from SC1 to SC2 is shown as SC2: the derived column is never "left out" of
    # the staged record (which would keep the stored value), it is worked out on every load.
    from ops_pipeline.datasets.budget_current import current_entities

    specs = current_entities()
    deal = {"name": "Study", "agreement_type": "CONTRACT"}

    def component(number):
        return record("services_component", {"agreement": deal, "number": number, "optional": False,
                                             "sub_component": None},
                      {"number": number, "optional": False, "sub_component": None, "description": f"SC{number}"},
                      {"agreement": deal})

    def sc_line(number, line_id=None):
        staged = line("5.00", agreement=("Study", "CONTRACT"), line_id=line_id)
        staged["links"]["services_component"] = {"agreement": deal, "number": number, "optional": False,
                                                 "sub_component": None}
        return staged

    load(engine, {"agreement": [agreement("Study")], "services_component": [component(1), component(2)],
                  "budget_line_item": [sc_line(1)]}, specs)
    with engine.connect() as conn:
        line_id, shown = conn.execute(select(m.BudgetLineItem.id, m.BudgetLineItem.service_component_name_for_sort)).one()
    assert shown == "SC1"
    counts, findings = load(engine, {"agreement": [agreement("Study")], "budget_line_item": [sc_line(2, line_id)]},
                            specs)
    assert findings == [] and counts["budget_line_item"]["updated"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(m.BudgetLineItem.service_component_name_for_sort)).scalar_one() == "SC2"
