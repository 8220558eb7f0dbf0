"""Steps for MAPS users and projects exports: the same library functions the CLI calls
(``run_pipeline``), on a SQLite OPS subset per scenario. Every step names "users" or "projects"
(or "MAPS") in its fixed words, so that it cannot match another feature's step."""
from behave import given, then, when
from sqlalchemy import func, select

from ops_pipeline.db import ops_models as m
from ops_pipeline.pipeline import run_pipeline
from tests.maps_steps import scenario_db as _db, query as _query, run_findings

#: What the history check counts: OPS's transactions, audit log, events and the version tables of
#: what these exports write.
HISTORY = ("transaction", "ops_db_history", "ops_event", "ops_user_version", "user_role_version",
           "project_version", "research_project_version")


def _write(context, kind: str, lines: list[list[str]]) -> None:
    path = context.tmp / f"{kind}.tsv"
    path.write_text("".join("\t".join(cells) + "\n" for cells in lines), encoding="utf-8")
    context.maps_files = {**getattr(context, "maps_files", {}), kind: path}


def _table_lines(table) -> list[list[str]]:
    return [list(table.headings)] + [[row[h] for h in table.headings] for row in table]


def _run(context, kind: str) -> None:
    outcome = run_pipeline(str(context.maps_files[kind]), runs_root=context.runs_root, db_url=_db(context))
    context.maps_outcomes = {**getattr(context, "maps_outcomes", {}), kind: outcome}


def _loaded(context, kind: str):
    outcome = context.maps_outcomes[kind]
    assert outcome.error is None, outcome.error.one_line()
    return outcome


def _findings(outcome) -> list[dict]:
    return run_findings(outcome.run)


def _roles(context, user_id: int) -> list[str]:
    role, user_role = m.Role.__table__, m.UserRole.__table__
    return sorted(name for (name,) in _query(context, select(role.c.name).join(
        user_role, user_role.c.role_id == role.c.id).where(user_role.c.user_id == user_id)))


def _history(context) -> dict:
    return {name: _query(context, select(func.count()).select_from(m.table(name)))[0][0] for name in HISTORY}


# -- the exports -------------------------------------------------------------------------------

@given("a MAPS users export with these rows:")
def step_users_export(context):
    _write(context, "users", _table_lines(context.table))


@given("a MAPS projects export with these rows:")
def step_projects_export(context):
    _write(context, "projects", _table_lines(context.table))


@given('a MAPS users export with these lines, cells separated by "|":')
def step_users_lines(context):
    _write(context, "users", [line.split("|") for line in context.text.splitlines()])


@when("the MAPS users export goes through the pipeline")
def step_users_run(context):
    _run(context, "users")


@when("the MAPS projects export goes through the pipeline")
def step_projects_run(context):
    _run(context, "projects")


@given("the MAPS users export has gone through the pipeline")
def step_users_done(context):
    _run(context, "users")
    _loaded(context, "users")


@given("the MAPS projects export has gone through the pipeline")
def step_projects_done(context):
    _run(context, "projects")
    _loaded(context, "projects")
    context.maps_history = _history(context)


@when("a new MAPS users export with these rows goes through the pipeline:")
def step_users_again_changed(context):
    _write(context, "users", _table_lines(context.table))
    _run(context, "users")
    _loaded(context, "users")


@when("both MAPS exports go through the pipeline again")
def step_both_again(context):
    context.maps_history = _history(context)
    for kind in ("users", "projects"):
        _run(context, kind)
        _loaded(context, kind)


# -- what OPS holds ------------------------------------------------------------------------------

@then("OPS has these MAPS users:")
def step_users_held(context):
    _loaded(context, "users")
    users, division = m.User.__table__, m.Division.__table__
    rows = _query(context, select(users.c.id, users.c.email, division.c.abbreviation, users.c.status)
                  .outerjoin(division, division.c.id == users.c.division))
    held = {str(i): (email, abbreviation or "", status) for i, email, abbreviation, status in rows}
    for row in context.table:
        assert held.get(row["id"]) == (row["email"], row["division"], row["status"]), (row["id"], held.get(row["id"]))
        assert ", ".join(_roles(context, int(row["id"]))) == row["roles"], (row["id"], _roles(context, int(row["id"])))


@then("OPS recorded that the load created users {first:d} and {second:d}")
def step_users_created_events(context, first, second):
    event = m.table("ops_event")
    details = [d for (d,) in _query(context, select(event.c.event_details).where(event.c.event_type == "CREATE_USER"))]
    assert sorted(d["user_id"] for d in details) == [first, second], details
    history = m.table("ops_db_history")
    keys = {k for (k,) in _query(context, select(history.c.row_key).where(history.c.class_name == "UserRole"))}
    assert len(keys) == len(_query(context, select(m.UserRole.__table__))), keys


@then('MAPS user {user_id:d} has the roles "{roles}"')
def step_user_roles(context, user_id, roles):
    assert _roles(context, user_id) == sorted(r.strip() for r in roles.split(",")), _roles(context, user_id)


@then('MAPS user {user_id:d} is in division "{abbreviation}"')
def step_user_division(context, user_id, abbreviation):
    users, division = m.User.__table__, m.Division.__table__
    rows = _query(context, select(division.c.abbreviation).join(users, users.c.division == division.c.id)
                  .where(users.c.id == user_id))
    assert rows == [(abbreviation,)], rows


@then("OPS has no MAPS user {user_id:d}")
def step_no_user(context, user_id):
    assert _query(context, select(m.User.id).where(m.User.id == user_id)) == []


@then('OPS has MAPS project {project_id:d} "{title}" of type {project_type}')
def step_project_held(context, project_id, title, project_type):
    _loaded(context, "projects")
    rows = _query(context, select(m.Project.title, m.Project.project_type).where(m.Project.id == project_id))
    assert rows == [(title, project_type)], rows


@then("OPS has no MAPS project {project_id:d}")
def step_no_project(context, project_id):
    assert _query(context, select(m.Project.id).where(m.Project.id == project_id)) == []


# -- findings ------------------------------------------------------------------------------------

def _refused(kind: str):
    def step(context, code, cell):
        outcome = context.maps_outcomes[kind]
        assert outcome.error is not None, f"the {kind} file was loaded"
        found = [(f["code"], f["cell"], f["severity"]) for f in _findings(outcome)]
        assert (code, cell, "error") in found, found
    return step


def _warned(kind: str):
    def step(context, code, cell, value):
        outcome = _loaded(context, kind)
        found = [(f["code"], f["cell"], f["severity"]) for f in _findings(outcome) if f.get("value") == value]
        assert (code, cell, "warning") in found, _findings(outcome)
    return step


for _kind in ("users", "projects"):
    then(f"OPS refuses the {_kind} file, with {{code}} at {{cell}}")(_refused(_kind))
    then(f'the {_kind} file is loaded with the warning {{code}} at {{cell}} for "{{value}}"')(_warned(_kind))


@then("every MAPS user, role and project is unchanged")
def step_all_unchanged(context):
    for kind in ("users", "projects"):
        counts = _loaded(context, kind).run.stage_info("load")["counts"]
        changed = {entity: c for entity, c in counts.items() if c["inserted"] or c["updated"]}
        assert not changed, (kind, counts)
        assert all(c["unchanged"] for c in counts.values()), (kind, counts)


@then("OPS's history gained nothing")
def step_no_history(context):
    assert _history(context) == context.maps_history
