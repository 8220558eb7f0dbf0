"""History as OPS's ORM records it (ops_pipeline.db.history): what one created and then updated
contract budget line leaves behind, on SQLite and on PostgreSQL built from OPS's schema dump, and
that recording nothing writes nothing."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, insert, select, update
from sqlalchemy.pool import NullPool

from ops_pipeline.db import history as history_module
from ops_pipeline.db.history import DEFAULT_EMAIL, DEFAULT_OIDC, History, system_user

from ops_pipeline.db import ops_models as OPS

NOW = dt.datetime(2025, 10, 2, 12, 30, 45, 123456)
LATER = dt.datetime(2025, 10, 3, 8, 0, 0, 1)

SUBSET = ["ops_user", "division", "portfolio", "project", "research_project", "can", "agreement",
          "contract_agreement", "budget_line_item", "contract_budget_line_item", "ops_event", "ops_db_history",
          "agreement_history", "can_history", "project_history"]


def T(name):
    return OPS.OpsBase.metadata.tables[f"ops.{name}"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    """SQLite with the OPS subset created from the declaration, or a fresh PostgreSQL database
    built from OPS's own schema dump (as the pipeline's role, which owns none of its tables)."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'ops.db'}", poolclass=NullPool).execution_options(
            schema_translate_map={"ops": None, "ops_pipeline": None})
        tables = [T(n) for n in SUBSET] + [OPS.version_table(n) for n in SUBSET] + [OPS.transaction_table]
        OPS.OpsBase.metadata.create_all(engine, tables=tables)
        with engine.begin() as conn:
            conn.execute(insert(T("division")).values(id=4, name="Division of Child and Family Development",
                                                      abbreviation="DCFD"))
            conn.execute(insert(T("portfolio")).values(id=1, name="Child Welfare Research", division_id=4))
    else:
        engine = create_engine(request.getfixturevalue("ops_pg_url"), poolclass=NullPool)
    yield engine
    engine.dispose()


def counts(conn) -> dict:
    names = SUBSET + [f"{n}_version" for n in SUBSET] + ["transaction"]
    return {n: conn.execute(select(func.count()).select_from(
        OPS.transaction_table if n == "transaction" else T(n) if not n.endswith("_version")
        else OPS.version_table(n[:-8]))).scalar() for n in names}


def grew(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


def as_json(value):
    return json.loads(value) if isinstance(value, str) else value


def load_one_line(conn, h: History) -> dict:
    """Write (as the loader would) a research project, a CAN, a contract agreement and one of its
    budget lines, and record them."""
    user = h.user_id
    audit = {"created_by": user, "updated_by": user, "created_on": NOW, "updated_on": NOW}
    ids = {}
    for name in ("project", "can", "agreement", "budget_line_item"):
        ids[name] = history_module.bulk.reserve_ids(conn, T(name), 1, floor={"project": 1000, "can": 500,
                                                                                "agreement": 0,
                                                                                "budget_line_item": 15000}[name])[0]
    project = {"id": ids["project"], "project_type": "RESEARCH", "title": "Head Start study", "short_title": None,
               "description": "", "url": None, **audit}
    conn.execute(insert(T("project")).values(**project))
    conn.execute(insert(T("research_project")).values(id=ids["project"]))
    h.created("project", "ResearchProject", "project", project, "research_project", {"id": ids["project"],
                                                                                        "origination_date": None})
    can = {"id": ids["can"], "number": "G99HRF2", "portfolio_id": 1, "description": None, "nick_name": "HRF",
           "funding_details_id": None, **audit}
    conn.execute(insert(T("can")).values(**can))
    h.created("can", "CAN", "can", can)
    agreement = {"id": ids["agreement"], "agreement_type": "CONTRACT", "name": "Study of things", "notes": "",
                 "project_id": ids["project"], "description": None, **audit}
    conn.execute(insert(T("agreement")).values(**agreement))
    contract = {"id": ids["agreement"], "delivered_status": False, "contract_number": None}
    conn.execute(insert(T("contract_agreement")).values(**contract))
    h.created("agreement", "ContractAgreement", "agreement", agreement, "contract_agreement", contract)
    line = {"id": ids["budget_line_item"], "budget_line_item_type": "CONTRACT", "agreement_id": ids["agreement"],
            "can_id": ids["can"], "line_description": "SC1 line", "amount": Decimal("100.00"),
            "status": "PLANNED", "date_needed": dt.date(2026, 1, 15), "on_hold": False, "certified": False,
            "closed": False, "is_under_current_resolution": False, "doc_received": False, "is_obe": False,
            "proc_shop_fee_percentage": None, **audit}
    conn.execute(insert(T("budget_line_item")).values(**line))
    conn.execute(insert(T("contract_budget_line_item")).values(id=line["id"]))
    h.created("budget_line", "ContractBudgetLineItem", "budget_line_item", line,
              "contract_budget_line_item", {"id": line["id"], "mod_id": None})
    return {**ids, "line": line}


def test_create_then_update_one_contract_line(engine):
    with engine.begin() as conn:
        before = counts(conn)
        h = History(conn, now=NOW)
        h.user_id = system_user(conn, history=h)
        made = load_one_line(conn, h)
        written = h.flush()
        first_tx = h.transaction_id
        after_create = counts(conn)

    line_id, user = made["line"]["id"], h.user_id
    assert grew(before, after_create) == {
        "transaction": 1,
        "ops_user": 1, "project": 1, "research_project": 1, "can": 1, "agreement": 1, "contract_agreement": 1,
        "budget_line_item": 1, "contract_budget_line_item": 1,
        "ops_user_version": 1, "project_version": 1, "research_project_version": 1, "can_version": 1,
        "agreement_version": 1, "contract_agreement_version": 1, "budget_line_item_version": 1,
        "contract_budget_line_item_version": 1,
        # one NEW per entity: User, ResearchProject, CAN, ContractAgreement, ContractBudgetLineItem
        "ops_db_history": 5, "ops_db_history_version": 5,
        # the loaders' events: CREATE_PROJECT, CREATE_NEW_CAN, CREATE_NEW_AGREEMENT, CREATE_BLI (none for the user)
        "ops_event": 4, "ops_event_version": 4,
        "agreement_history": 2, "agreement_history_version": 2,
        "can_history": 1, "can_history_version": 1, "project_history": 1, "project_history_version": 1,
    }
    assert written["ops_db_history"] == 5 and written["budget_line_item_version"] == 1

    with engine.begin() as conn:
        users = T("ops_user")
        sys_row = conn.execute(select(users.c.email, users.c.oidc_id).where(users.c.id == user)).one()
        assert (sys_row.email, str(sys_row.oidc_id)) == (DEFAULT_EMAIL, DEFAULT_OIDC)
        dbh = T("ops_db_history")
        new = {r.class_name: r for r in conn.execute(select(dbh).where(dbh.c.id > 0))}
        assert set(new) == {"User", "ResearchProject", "CAN", "ContractAgreement", "ContractBudgetLineItem"}
        bli = new["ContractBudgetLineItem"]
        assert (bli.event_type, bli.row_key, bli.created_by, bli.updated_by) == ("NEW", str(line_id), user, None)
        changes = as_json(bli.changes)
        assert changes["amount"] == {"new": 100.0}
        assert changes["status"] == {"new": "PLANNED"}
        assert changes["date_needed"] == {"new": "2026-01-15"}
        assert changes["budget_line_item_type"] == {"new": "CONTRACT"}
        assert "on_hold" not in changes and "mod_id" not in changes  # only truthy values
        details = as_json(bli.event_details)
        assert details["amount"] == 100.0 and details["display_name"] == f"BL {line_id}"
        assert details["created_on"] == "2025-10-02T12:30:45.123456"
        assert details["line_description"] == "SC1 line" and details["on_hold"] is False

        events = T("ops_event")
        by_type = {r.event_type: r for r in conn.execute(select(events))}
        assert set(by_type) == {"CREATE_PROJECT", "CREATE_NEW_CAN", "CREATE_NEW_AGREEMENT", "CREATE_BLI"}
        assert as_json(by_type["CREATE_BLI"].event_details)["new_bli"]["id"] == line_id
        assert as_json(by_type["CREATE_NEW_AGREEMENT"].event_details)["New Agreement"]["name"] == "Study of things"
        assert all(r.event_status == "SUCCESS" and r.created_by == user for r in by_type.values())

        ah = T("agreement_history")
        lines = {r.history_type: r for r in conn.execute(select(ah))}
        created_line = lines["BUDGET_LINE_ITEM_CREATED"]
        assert created_line.history_title == "New Budget Line Added"
        assert created_line.history_message == \
            f"Changes made to the OPRE budget spreadsheet added new budget line {line_id}."
        assert (created_line.agreement_id, created_line.budget_line_id, created_line.budget_line_id_record) == \
            (made["agreement"], line_id, line_id)
        assert created_line.ops_event_id == by_type["CREATE_BLI"].id
        assert created_line.timestamp == "2025-10-02T12:30:45.123456Z"
        assert lines["AGREEMENT_CREATED"].history_message == \
            "Changes made to the OPRE budget spreadsheet created a new agreement."
        can_line = conn.execute(select(T("can_history"))).one()
        assert (can_line.history_title, can_line.fiscal_year, can_line.history_type) == \
            ("FY 2026 Data Import", 2026, "CAN_DATA_IMPORT")  # October: the next fiscal year
        project_line = conn.execute(select(T("project_history"))).one()
        assert (project_line.history_type, project_line.project_id) == ("PROJECT_CREATED", made["project"])

    # Change the line's amount in a second load.
    with engine.begin() as conn:
        h2 = History(conn, now=LATER)
        h2.user_id = system_user(conn, history=h2)
        assert h2.user_id == user
        conn.execute(update(T("budget_line_item")).where(T("budget_line_item").c.id == line_id)
                     .values(amount=Decimal("200.00"), updated_on=LATER))
        old = {"amount": "100.00", "line_description": "SC1 line", "updated_on": NOW}
        new = {"amount": "200.00", "line_description": "SC1 line", "updated_on": LATER}
        assert h2.updated("budget_line", "ContractBudgetLineItem", "budget_line_item", line_id, old, new,
                          "contract_budget_line_item")
        h2.flush()
        second_tx = h2.transaction_id
        after_update = counts(conn)

    assert second_tx != first_tx
    assert grew(after_create, after_update) == {
        "transaction": 1, "budget_line_item_version": 1, "contract_budget_line_item_version": 1,
        "ops_db_history": 1, "ops_db_history_version": 1, "ops_event": 1, "ops_event_version": 1,
        "agreement_history": 1, "agreement_history_version": 1,
    }
    with engine.begin() as conn:
        for name in ("budget_line_item", "contract_budget_line_item"):
            version = OPS.version_table(name)
            rows = conn.execute(select(version.c.transaction_id, version.c.end_transaction_id,
                                       version.c.operation_type).where(version.c.id == line_id)
                                .order_by(version.c.transaction_id)).all()
            assert [tuple(r) for r in rows] == [(first_tx, second_tx, 0), (second_tx, None, 1)], name
        # The update's version row holds the whole row as it now stands.
        version = OPS.version_table("budget_line_item")
        current = conn.execute(select(version).where(version.c.id == line_id,
                                                     version.c.transaction_id == second_tx)).one()
        assert (Decimal(str(current.amount)), current.line_description, current.status, current.created_by,
                current.can_id) == (Decimal("200.00"), "SC1 line", "PLANNED", user, made["can"])
        # Continuum's validity strategy: the version valid at the first transaction, read back.
        at_first = conn.execute(select(version.c.amount).where(
            version.c.id == line_id, version.c.transaction_id <= first_tx,
            (version.c.end_transaction_id.is_(None)) | (version.c.end_transaction_id > first_tx))).scalar()
        assert Decimal(str(at_first)) == Decimal("100.00")

        dbh = T("ops_db_history")
        upd = conn.execute(select(dbh).where(dbh.c.event_type == "UPDATED")).one()
        assert (upd.class_name, upd.row_key, upd.created_by) == ("ContractBudgetLineItem", str(line_id), user)
        assert as_json(upd.changes) == {"amount": {"new": 200.0, "old": 100.0}}
        event = conn.execute(select(T("ops_event")).where(T("ops_event").c.event_type == "UPDATE_BLI")).one()
        details = as_json(event.event_details)
        assert details["bli_updates"] == {"owner_id": line_id, "updated_by": user,
                                          "changes": {"amount": {"new_value": 200.0, "old_value": 100.0}}}
        assert details["bli"]["id"] == line_id and details["bli"]["amount"] == 200.0
        assert details["bli"]["can_id"] == made["can"]  # the whole line, not only what changed
        assert (details["bli"]["created_on"], details["bli"]["date_needed"]) == ("2025-10-02T12:30:45.123456",
                                                                              "2026-01-15")
        ah = T("agreement_history")
        changed = conn.execute(select(ah).where(ah.c.history_type == "BUDGET_LINE_ITEM_UPDATED")).one()
        assert (changed.history_title, changed.ops_event_id, changed.agreement_id) == \
            ("Change to Amount", event.id, made["agreement"])
        assert changed.history_message == ("Changes made to the OPRE budget spreadsheet changed the amount "
                                           f"for BL {line_id} from $100.00 to $200.00.")
        assert changed.timestamp == "2025-10-03T08:00:00.000001Z"
        versions = OPS.version_table("ops_db_history")
        assert conn.execute(select(versions.c.transaction_id, versions.c.operation_type)
                            .where(versions.c.id == upd.id)).one() == (second_tx, 0)


def test_nothing_recorded_writes_nothing(engine):
    with engine.begin() as conn:
        h = History(conn, now=NOW)
        h.user_id = system_user(conn, history=h)
        load_one_line(conn, h)
        h.flush()
        before = counts(conn)
    with engine.begin() as conn:
        h = History(conn, now=LATER)
        h.user_id = system_user(conn, history=h)  # found: nothing to record
        line = conn.execute(select(T("budget_line_item"))).one()._asdict()
        same = {"amount": "100.00", "date_needed": "2026-01-15", "status": "PLANNED", "updated_on": LATER}
        stored = {"amount": line["amount"], "date_needed": line["date_needed"], "status": line["status"],
                  "updated_on": NOW}
        assert not h.updated("budget_line", "ContractBudgetLineItem", "budget_line_item", line["id"], stored, same)
        assert h.empty and h.flush() is None and h.transaction_id is None
        assert counts(conn) == before


def test_system_user_alone_is_a_recorded_write(engine):
    with engine.begin() as conn:
        before = counts(conn)
        user = system_user(conn, email="ops.loader@example.gov", oidc_id=str(uuid.UUID(int=7)), now=NOW)
        assert system_user(conn, email="ops.loader@example.gov", oidc_id=str(uuid.UUID(int=7))) == user
        assert grew(before, counts(conn)) == {"transaction": 1, "ops_user": 1, "ops_user_version": 1,
                                              "ops_db_history": 1, "ops_db_history_version": 1}
        row = conn.execute(select(T("ops_db_history"))).one()
        assert (row.event_type, row.class_name, row.row_key) == ("NEW", "User", str(user))
        assert as_json(row.changes)["email"] == {"new": "ops.loader@example.gov"}
        assert as_json(row.changes)["oidc_id"] == {"new": str(uuid.UUID(int=7))}


def test_many_lines_recorded_in_bulk(engine):
    """Tuples in bulk (COPY on PostgreSQL past its threshold): one of each row per line, and an
    update of all of them closes every previous version in one statement per table."""
    n = 450
    with engine.begin() as conn:
        h = History(conn, now=NOW)
        h.user_id = system_user(conn, history=h)
        made = load_one_line(conn, h)
        h.flush()
        before = counts(conn)
    columns = ["id", "budget_line_item_type", "agreement_id", "can_id", "line_description", "amount", "status",
               "date_needed", "on_hold", "certified", "closed", "created_by", "updated_by", "created_on",
               "updated_on"]
    with engine.begin() as conn:
        h = History(conn, now=LATER)
        h.user_id = system_user(conn, history=h)
        ids = history_module.bulk.reserve_ids(conn, T("budget_line_item"), n, floor=15000)
        rows = [(i, "CONTRACT", made["agreement"], made["can"], f"line {i}", f"{i}.50", "DRAFT", "2026-03-01",
                 False, False, False, h.user_id, h.user_id, LATER, LATER) for i in ids]
        history_module.bulk.insert_rows(conn, T("budget_line_item"), columns, rows)
        history_module.bulk.insert_rows(conn, T("contract_budget_line_item"), ["id"], [(i,) for i in ids])
        h.created_many("budget_line", "ContractBudgetLineItem", "budget_line_item", columns, rows,
                       "contract_budget_line_item", ["id"], [(i,) for i in ids])
        h.flush()
        after = counts(conn)
        assert grew(before, after) == {
            "transaction": 1, "budget_line_item": n, "contract_budget_line_item": n,
            "budget_line_item_version": n, "contract_budget_line_item_version": n,
            "ops_db_history": n, "ops_db_history_version": n, "ops_event": n, "ops_event_version": n,
            "agreement_history": n, "agreement_history_version": n}
        sample = conn.execute(select(T("ops_db_history")).where(T("ops_db_history").c.row_key == str(ids[7]))).one()
        assert as_json(sample.changes)["amount"] == {"new": float(f"{ids[7]}.50")}
        assert as_json(sample.changes)["date_needed"] == {"new": "2026-03-01"}
        assert as_json(sample.event_details)["created_on"] == "2025-10-03T08:00:00.000001"
    with engine.begin() as conn:
        h = History(conn, now=LATER + dt.timedelta(hours=1))
        h.user_id = system_user(conn, history=h)
        for i in ids:
            assert h.updated("budget_line", "ContractBudgetLineItem", "budget_line_item", i,
                             {"status": "DRAFT"}, {"status": "PLANNED"}, "contract_budget_line_item")
        h.flush()
        version = OPS.version_table("budget_line_item")
        open_versions = conn.execute(select(func.count()).select_from(version).where(
            version.c.id.in_(ids), version.c.end_transaction_id.is_(None))).scalar()
        closed = conn.execute(select(func.count()).select_from(version).where(
            version.c.id.in_(ids), version.c.end_transaction_id == h.transaction_id)).scalar()
        assert (open_versions, closed) == (n, n)


def test_update_lines_as_ops_words_them(engine):
    """Each changed property OPS describes gets its own history line, pointing to the event."""
    with engine.begin() as conn:
        h = History(conn, now=NOW)
        h.user_id = system_user(conn, history=h)
        made = load_one_line(conn, h)
        if conn.dialect.name == "sqlite":  # PostgreSQL has OPS's seeded divisions and portfolios
            conn.execute(insert(T("division")).values(id=5, name="Division of Family Strengthening",
                                                      abbreviation="DFS"))
            conn.execute(insert(T("portfolio")).values(id=5, name="Adolescent Development Research",
                                                       division_id=5))
        other_can = history_module.bulk.reserve_ids(conn, T("can"), 1, floor=500)[0]
        conn.execute(insert(T("can")).values(id=other_can, number="G99XXX8", portfolio_id=1))
        h.flush()
    with engine.begin() as conn:
        h = History(conn, now=LATER)
        h.user_id = system_user(conn, history=h)
        line = made["line"]["id"]
        assert h.updated("budget_line", "ContractBudgetLineItem", "budget_line_item", line,
                         {"can_id": made["can"], "date_needed": "2026-01-15", "comments": None},
                         {"can_id": other_can, "date_needed": "2026-02-01", "comments": "moved"})
        assert h.updated("agreement", "ContractAgreement", "agreement", made["agreement"],
                         {"notes": "", "contract_type": None, "project_id": made["project"]},
                         {"notes": "From the sheet", "contract_type": "FIRM_FIXED_PRICE",
                          "project_id": made["project"] + 1})
        assert h.updated("can", "CAN", "can", made["can"], {"nick_name": "HRF", "portfolio_id": 1},
                         {"nick_name": "HRF2", "portfolio_id": 5})
        assert h.updated("project", "ResearchProject", "project", made["project"],
                         {"title": "Head Start study", "short_title": None},
                         {"title": "Head Start study II", "short_title": "HS2"})
        h.flush()
        ah = T("agreement_history")
        lines = {r.history_title: r.history_message for r in conn.execute(
            select(ah).where(ah.c.history_type.in_(["BUDGET_LINE_ITEM_UPDATED", "AGREEMENT_UPDATED"])))}
        said = "Changes made to the OPRE budget spreadsheet"
        assert lines == {
            "Change to CAN": f"{said} changed the CAN for BL {line} from CAN G99HRF2 to CAN G99XXX8.",
            "Change to Obligate By": f"{said} changed the Obligate By date for BL {line} from 01/15/2026 to 02/01/2026.",
            "Change to Notes": f"{said} changed the notes.",
            "Change to Contract Type": f"{said} changed the contract type from None to Firm Fixed Price.",
        }  # comments and project_id: OPS writes no line for them
        can_lines = {r.history_type: r.history_message for r in conn.execute(select(T("can_history")).where(
            T("can_history").c.history_type != "CAN_DATA_IMPORT"))}
        assert can_lines == {
            "CAN_NICKNAME_EDITED": "Nickname changed from HRF to HRF2 during FY 2026 data import",
            "CAN_PORTFOLIO_EDITED": "CAN portfolio changed from Child Welfare Research to Adolescent Development "
                                    "Research during FY 2026 data import",
            "CAN_DIVISION_EDITED": "CAN division changed from Division of Child and Family Development to "
                                   "Division of Family Strengthening during FY 2026 data import",
        }
        project_lines = {r.history_type: r.history_message for r in conn.execute(select(T("project_history")).where(
            T("project_history").c.history_type != "PROJECT_CREATED"))}
        assert project_lines == {
            "PROJECT_TITLE_EDITED": f"{said} changed the Project Title from Head Start study to Head Start study II.",
            "PROJECT_SHORT_TITLE_EDITED": f"{said} changed the Project Nickname from TBD to HS2.",
        }
        events = {r.event_type: as_json(r.event_details) for r in conn.execute(select(T("ops_event")).where(
            T("ops_event").c.event_type.in_(["UPDATE_BLI", "UPDATE_AGREEMENT", "UPDATE_CAN", "UPDATE_PROJECT",
                                             "CREATE_BLI"])))}
        assert events["UPDATE_CAN"] == {"can_updates": {"owner_id": made["can"], "changes": {
            "nick_name": {"new_value": "HRF2", "old_value": "HRF"}, "portfolio_id": {"new_value": 5, "old_value": 1}}}}
        assert events["UPDATE_AGREEMENT"]["agreement_updates"]["changes"]["project_id"] == \
            {"new_value": made["project"] + 1, "old_value": made["project"]}
        assert set(events) == {"UPDATE_BLI", "UPDATE_AGREEMENT", "UPDATE_CAN", "UPDATE_PROJECT", "CREATE_BLI"}
        assert events["UPDATE_BLI"]["bli_updates"]["changes"]["comments"] == {"new_value": "moved", "old_value": None}
