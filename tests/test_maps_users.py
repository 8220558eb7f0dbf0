"""MAPS users with their roles: user_role rows added (never removed), their history, OPS's
CREATE_USER events, and a rerun that changes nothing; OPS's roles declared and seeded."""
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ops_pipeline.db import ops_models as m
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.models import PipelineRun
from ops_pipeline.db.ops_reference import ROLES
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.rundir import read_jsonl

USERS = Path(__file__).parent / "data" / "maps" / "small" / "users.tsv"
ROLE_IDS = {name: id_ for id_, name, _ in ROLES}
#: users.tsv's roles: (user, role id)
GRANTED = {(1, 5), (1, 2), (2, 2), (4, 3), (5, 6)}
HEADER = "SYS_USER_ID\tEMAIL\tDIVISION\tSTATUS\tROLES\tFIRST_NAME\tLAST_NAME\n"


def _load(path, runs_root, url):
    outcome = run_pipeline(str(path), runs_root=runs_root, db_url=url)
    assert outcome.error is None, outcome.error
    return outcome


def _export(tmp_path, name, *lines) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return path


def _state(url) -> dict:
    """What the load left in OPS: roles granted, and the history rows about users and roles."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ur, urv = m.UserRole.__table__, m.version_table("user_role")
            history, event = m.table("ops_db_history"), m.table("ops_event")
            return {
                "granted": set(conn.execute(select(ur.c.user_id, ur.c.role_id)).all()),
                "versions": conn.execute(select(urv.c.user_id, urv.c.role_id, urv.c.transaction_id,
                                                urv.c.end_transaction_id, urv.c.operation_type)).all(),
                "history": conn.execute(select(history.c.class_name, history.c.event_type, history.c.row_key,
                                               history.c.changes)
                                        .where(history.c.class_name.in_(("User", "UserRole")))).all(),
                "events": [(e, d if isinstance(d, dict) else json.loads(d)) for e, d in conn.execute(
                    select(event.c.event_type, event.c.event_details)
                    .where(event.c.event_type == "CREATE_USER")).all()],
                "transactions": conn.execute(select(func.count()).select_from(m.transaction_table)).scalar(),
            }
    finally:
        engine.dispose()


def _transaction_of(url, outcome) -> int:
    """The OPS transaction a run's load recorded (its run record keeps it)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(PipelineRun.transaction_id).where(PipelineRun.id == outcome.run.run_id)).scalar()
    finally:
        engine.dispose()


def _check_first_load(state: dict, tx: int) -> None:
    assert state["granted"] == GRANTED
    assert {(u, r) for u, r, *_ in state["versions"]} == GRANTED
    assert {(t, end, op) for _u, _r, t, end, op in state["versions"]} == {(tx, None, 0)}
    keys = {key for cls, kind, key, _ in state["history"] if cls == "UserRole" and kind == "NEW"}
    assert keys == {f"{u}|{r}" for u, r in GRANTED}
    users = {key for cls, kind, key, _ in state["history"] if cls == "User" and kind == "NEW"}
    assert {str(u) for u in range(1, 21)} <= users  # and the system user the load acts as
    # OPS's users loader: one CREATE_USER per user it wrote; none for the system user.
    assert sorted(d["user_id"] for _e, d in state["events"]) == list(range(1, 21))  # users.tsv's 20 users
    assert {"user_id": 1, "message": "Upserted user anna.budget@example.gov"} in [d for _e, d in state["events"]]


def test_a_users_export_loads_its_roles_with_their_history_and_a_rerun_changes_nothing(runs_root, sqlite_url):
    outcome = _load(USERS, runs_root, sqlite_url)
    counts = outcome.run.stage_info("load")["counts"]
    assert counts["user_role"] == {"inserted": 5, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    first = _state(sqlite_url)
    _check_first_load(first, _transaction_of(sqlite_url, outcome))

    again = _load(USERS, runs_root, sqlite_url)
    assert again.run.stage_info("load")["counts"]["user_role"]["unchanged"] == 5
    assert _state(sqlite_url) == first  # no row, no version, no history, no event, no transaction


def test_listed_roles_are_added_granted_ones_kept_and_a_blank_cell_changes_nothing(tmp_path, runs_root, sqlite_url):
    _load(USERS, runs_root, sqlite_url)
    before = _state(sqlite_url)
    # User 1 as before but for one more role; user 2 with no roles listed.
    changed = _export(tmp_path, "users.tsv",
                      "1\tanna.budget@example.gov\tDCFD\tACTIVE\tUSER_ADMIN\tAnna\tBudget",
                      "2\tben.officer@example.gov\tDFS\tACTIVE\t\tBen\tOfficer")
    outcome = _load(changed, runs_root, sqlite_url)
    counts = outcome.run.stage_info("load")["counts"]
    assert counts["ops_user"]["unchanged"] == 2 and counts["user_role"]["inserted"] == 1
    after = _state(sqlite_url)
    assert after["granted"] == GRANTED | {(1, ROLE_IDS["USER_ADMIN"])}
    # A load that only grants a role is still one OPS transaction, with the role's version row.
    assert after["transactions"] == before["transactions"] + 1
    (added,) = [v for v in after["versions"] if v not in before["versions"]]
    assert added == (1, ROLE_IDS["USER_ADMIN"], _transaction_of(sqlite_url, outcome), None, 0)
    assert len(after["history"]) == len(before["history"]) + 1 and after["events"] == before["events"]


def test_a_role_ops_does_not_have_is_reported_at_load_never_dropped_silently(tmp_path, runs_root, sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:  # an OPS without the USER_ADMIN role
        conn.execute(m.Role.__table__.delete().where(m.Role.name == "USER_ADMIN"))
    engine.dispose()
    path = _export(tmp_path, "users.tsv", "7\tgil@example.gov\tOD\tACTIVE\tUSER_ADMIN,BUDGET_TEAM\tGil\tG")
    outcome = _load(path, runs_root, sqlite_url)
    assert outcome.run.stage_info("load")["counts"]["user_role"]["skipped"] == 1
    found = [f for f in read_jsonl(outcome.run.path / "load" / "findings.jsonl") if f["code"] == "ROLE_DROPPED"]
    assert [(f["cell"], f["severity"]) for f in found] == [("users.tsv:2:ROLES", "warning")]
    assert _state(sqlite_url)["granted"] == {(7, ROLE_IDS["BUDGET_TEAM"])}


@pytest.mark.parametrize("name", ["role", "role_version"])
def test_the_sqlite_subset_is_seeded_with_ops_roles(sqlite_url, name):
    from ops_pipeline.datasets.maps_users import OPS_ROLES
    from tests.opsdb import initial_rows

    def plain(row):
        permissions = row["permissions"]
        if isinstance(permissions, str):  # the SQL file's array literal
            permissions = permissions.strip("{}").split(",")
        row = {**row, "permissions": list(permissions)}
        return {k: v for k, v in row.items() if k not in ("created_on", "updated_on")}

    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        stored = [plain(dict(r._mapping)) for r in conn.execute(select(m.table(name)).order_by("id"))]
    engine.dispose()
    assert stored == [plain(r) for r in sorted(initial_rows(name), key=lambda r: r["id"])]
    assert tuple(row["name"] for row in stored) == OPS_ROLES  # the names the dataset accepts


@pytest.mark.postgres
def test_roles_and_their_history_on_postgresql(tmp_path, runs_root, pg_schema_url):
    outcome = _load(USERS, runs_root, pg_schema_url)
    first = _state(pg_schema_url)
    _check_first_load(first, _transaction_of(pg_schema_url, outcome))
    only_roles = _export(tmp_path, "users.tsv", "1\tanna.budget@example.gov\tDCFD\tACTIVE\tUSER_ADMIN\tAnna\tBudget")
    _load(only_roles, runs_root, pg_schema_url)
    after = _state(pg_schema_url)
    assert after["granted"] == GRANTED | {(1, ROLE_IDS["USER_ADMIN"])}
    assert after["transactions"] == first["transactions"] + 1
    _load(only_roles, runs_root, pg_schema_url)
    assert _state(pg_schema_url) == after
