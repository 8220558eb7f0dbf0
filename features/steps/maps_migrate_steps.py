"""Steps for features/maps_migrate.feature: the library functions `ops-pipeline migrate` calls
(ops_pipeline.migrate), on a SQLite OPS subset per scenario, with generated exports
(ops_pipeline.maps_sample)."""
from behave import given, then, when
from sqlalchemy import func, select

from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.ops_models import OpsDBHistory, User, transaction_table
from ops_pipeline.errors import PipelineError
from ops_pipeline.maps_sample import write_maps_export
from ops_pipeline.migrate import make_plan, migrate
from tests.maps_steps import scenario_db as _db


def _count(context, table) -> int:
    engine = make_engine(_db(context))
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar()
    finally:
        engine.dispose()


@given("a MAPS export folder holding:")
def export_folder(context):
    context.export = context.tmp / "export"
    generated = context.tmp / "generated"
    write_maps_export(generated, budget_lines=20, only=("users.tsv", "projects.tsv"))
    context.export.mkdir()
    for row in context.table:
        target = context.export / row["file"]
        holds = row["holds"]
        if holds == "nothing":
            target.write_text("WHAT\tEVER\n1\t2\n", encoding="utf-8")
            continue
        text = (generated / f"{holds.split(',')[0]}.tsv").read_text(encoding="utf-8")
        if "RETIRED" in holds:
            lines = text.splitlines()
            lines[1] = lines[1].replace("ACTIVE", "RETIRED")
            text = "\n".join(lines) + "\n"
        target.write_text(text, encoding="utf-8")


@when("the export is planned")
def planned(context):
    context.plan = make_plan(str(context.export))


@when("the export is migrated")
def migrated(context):
    context.history_before = _count(context, transaction_table) + _count(context, OpsDBHistory.__table__)
    context.migration, context.refused = None, None
    try:
        context.migration = migrate(str(context.export), runs_root=context.runs_root, db_url=_db(context))
    except PipelineError as exc:  # the plan refused the export: nothing began
        context.refused = exc
    context.history_after = _count(context, transaction_table) + _count(context, OpsDBHistory.__table__)


@when("the export is migrated again")
def migrated_again(context):
    migrated(context)


@then("the plan loads, in this order:")
def plan_order(context):
    assert [(f.name, f.dataset) for f in context.plan.files] == [(r["file"], r["dataset"]) for r in context.table], \
        context.plan.lines()


@then('the migration stops with "{text}"')
def stops_with(context, text):
    error = context.refused or context.migration.error
    assert error is not None, "the migration did not stop"
    assert text in error.one_line(), error.one_line()


@then('the migration report lists "{code}" for "{name}"')
def report_lists(context, code, name):
    [entry] = [f for f in context.migration.report["files"] if f["name"] == name]
    assert entry["findings"].get(code), entry["findings"]


@then("OPS has no migrated users")
def no_users(context):
    engine = make_engine(_db(context))
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(User).where(User.id < 500)).scalar() == 0
    finally:
        engine.dispose()


@then("the second migration inserted and updated nothing")
def nothing_changed(context):
    totals = context.migration.report["totals"]["entities"]
    assert totals and all(c.get("inserted", 0) == c.get("updated", 0) == 0 for c in totals.values()), totals


@then("OPS's history did not grow with the second migration")
def no_history(context):
    assert context.history_after == context.history_before, (context.history_before, context.history_after)
