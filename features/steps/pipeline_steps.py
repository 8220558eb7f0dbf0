"""Steps that run workbooks through the stages: the same library functions the CLI calls."""
from decimal import Decimal

from behave import given, then, when
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops_pipeline.db.engine import init_schema, make_engine
from ops_pipeline.db.models import Lineage
from ops_pipeline.db.ops_models import (CAN, Agreement, BudgetLineItem, OpsDBHistory, Portfolio, Project,
                                        ResearchProject, User, transaction_table, version_table)
from ops_pipeline.rules.dates import fiscal_year
from ops_pipeline.errors import PipelineError
from ops_pipeline.pipeline import Options, run_pipeline, run_stage, start_run
from ops_pipeline.rundir import read_json, read_jsonl
from ops_pipeline.stages.report import render

HEADER = ["CAN", "Sys_Budget_ID", "Project Title", "CIG Name", "CIG Type", "Line Desc", "Date Needed",
          "Amount", "PSCFee Amount", "Status", "Comments"]


def _db(context) -> str:
    if not getattr(context, "db_url", None):
        context.db_url = f"sqlite:///{context.tmp / 'ops.db'}"
        init_schema(context.db_url)
    return context.db_url


def _write(context, rows: list[dict], name: str) -> str:
    book = Workbook()
    ws = book.active
    ws.title = "All Budget - Cur"
    ws.append(HEADER)
    for row in rows:
        ws.append([row.get(column) or None for column in HEADER])
    path = context.tmp / name
    book.save(path)
    return str(path)


def _rows(table) -> list[dict]:
    return [{heading: row[heading] for heading in table.headings} for row in table]


def _pipeline(context, path: str):
    context.outcome = run_pipeline(path, runs_root=context.runs_root, db_url=_db(context))
    assert context.outcome.error is None, context.outcome.error.one_line()
    context.report = context.outcome.report
    context.history_after = getattr(context, "history_after", []) + [_history_rows(context)]


def _history_rows(context) -> dict:
    """How many rows OPS's history tables hold (transactions, audit log, events, versions)."""
    tables = [transaction_table, OpsDBHistory.__table__, version_table("budget_line_item"),
              version_table("ops_event")]
    with _session(context) as session:
        return {t.name: session.execute(select(func.count()).select_from(t)).scalar() for t in tables}


def _session(context) -> Session:
    return Session(make_engine(_db(context)))


@given("a budget workbook with these rows:")
def step_workbook_rows(context):
    context.rows = _rows(context.table)
    context.workbook = _write(context, context.rows, "budget.xlsx")


@given('the database already has a research project "{title}"')
def step_existing_project(context, title):
    with _session(context) as session, session.begin():
        session.add(ResearchProject(title=title, description=""))


@when("the workbook goes through the pipeline into the database")
def step_pipeline(context):
    _pipeline(context, context.workbook)


@when("the same workbook goes through the pipeline again")
def step_pipeline_again(context):
    _pipeline(context, context.workbook)


@when("the amount of budget id {budget_id} is changed to {amount} in a new workbook that goes through the pipeline")
def step_changed_amount(context, budget_id, amount):
    rows = [dict(row, Amount=amount) if row.get("Sys_Budget_ID") == budget_id else row for row in context.rows]
    _pipeline(context, _write(context, rows, "budget-v2.xlsx"))


@then("the database has {count:d} {what}")
def step_database_count(context, count, what):
    model = {"CANs": CAN, "project": Project, "projects": Project, "budget line": BudgetLineItem,
             "budget lines": BudgetLineItem}[what]
    with _session(context) as session:
        assert session.query(model).count() == count, session.query(model).count()


@then('the CANs needing a portfolio decision are "{numbers}"')
def step_cans_without_portfolio(context, numbers):
    assert context.report["cans_without_portfolio"] == [n.strip() for n in numbers.split(",")], \
        context.report["cans_without_portfolio"]


@then('CAN "{number}" belongs to portfolio "{portfolio}"')
def step_can_portfolio(context, number, portfolio):
    with _session(context) as session:
        found = session.execute(select(Portfolio.abbreviation).join(CAN, CAN.portfolio_id == Portfolio.id)
                                .where(CAN.number == number)).scalar()
    assert found == portfolio, found


@then("the database has these projects:")
def step_projects(context):
    with _session(context) as session:
        found = [{"title": p.title, "project_type": p.project_type} for p in session.query(Project).order_by(Project.id)]
    assert found == _rows(context.table), found


@then("the report asks whether the OPRE rows are one project or several")
def step_opre_question(context):
    codes = [q["code"] for q in context.report["questions"]]
    assert "opre-rows" in codes, codes


@then("the load reports {entity} inserted {inserted:d}, updated {updated:d}, unchanged {unchanged:d}")
def step_load_counts(context, entity, inserted, updated, unchanged):
    assert context.report["entities"][entity] == {"inserted": inserted, "updated": updated,
                                                  "unchanged": unchanged, "skipped": 0, "rejected": 0}, context.report["entities"][entity]


@then("the database has these agreements:")
def step_agreements(context):
    with _session(context) as session:
        rows = session.execute(select(Agreement.name, Agreement.agreement_type, Project.title)
                               .join(Project, Agreement.project_id == Project.id, isouter=True)
                               .order_by(Agreement.id)).all()
    found = [{"name": n, "agreement_type": t, "project": p or ""} for n, t, p in rows]
    assert found == _rows(context.table), found


@then('{count:d} row is skipped as "{reason}"')
def step_skipped(context, count, reason):
    assert context.report["skipped"][reason]["count"] == count, context.report["skipped"]


@then("the database has these budget lines:")
def step_budget_lines(context):
    with _session(context) as session:
        rows = session.execute(
            select(BudgetLineItem, CAN.number, Agreement.name)
            .join(CAN, BudgetLineItem.can_id == CAN.id, isouter=True)
            .join(Agreement, BudgetLineItem.agreement_id == Agreement.id, isouter=True)
            .order_by(BudgetLineItem.line_description)).all()
        found = [{
            "id": str(line.id), "can": number, "agreement": name or "", "line_description": line.line_description,
            "date_needed": line.date_needed.isoformat() if line.date_needed else "",
            "amount": str(Decimal(line.amount).quantize(Decimal("0.01"))), "status": line.status,
            # OPS works the fiscal year out from the date needed, as the rule does
            "fiscal_year": str(fiscal_year(line.date_needed)) if line.date_needed else "",
            "type": line.budget_line_item_type,
        } for line, number, name in rows]
    expected = _rows(context.table)
    for row, want in zip(found, expected):
        if want["id"] == "*":
            row["id"] = "*"
    assert found == expected, found


@then("every budget line traces back to its spreadsheet row")
def step_lineage(context):
    run = context.outcome.run
    lines = list(read_jsonl(run.path / "transform" / "budget_line_item.jsonl"))
    with _session(context) as session:
        traces = session.execute(select(Lineage).where(Lineage.entity == "budget_line_item")).scalars().all()
        assert len(traces) == len(lines), (len(traces), len(lines))
        for trace in traces:
            assert trace.run_id == run.run_id
            assert trace.file_sha256 == run.manifest["source"]["sha256"]
            assert trace.sheet == "All Budget - Cur"
            assert session.get(BudgetLineItem, trace.entity_id) is not None
        assert sorted(int(t.rows) for t in traces) == [int(line["lineage"]["rows"]) for line in lines]


@then("budget line {line_id:d} has amount {amount}")
def step_line_amount(context, line_id, amount):
    with _session(context) as session:
        line = session.get(BudgetLineItem, line_id)
        assert line is not None
        assert Decimal(line.amount) == Decimal(amount), line.amount


# -- what OPS holds (CANs and portfolios, history) ----------------------------------------------

@given("the workbook has gone through the pipeline into the database")
def step_pipeline_done(context):
    _pipeline(context, context.workbook)


def _add_can(context, number, portfolio):
    with _session(context) as session, session.begin():
        portfolio_id = session.execute(select(Portfolio.id).where(Portfolio.abbreviation == portfolio)).scalar_one()
        session.add(CAN(number=number, portfolio_id=portfolio_id))


@given('OPS has CAN "{number}" in portfolio "{portfolio}"')
def step_ops_has_can(context, number, portfolio):
    _add_can(context, number, portfolio)


@when('budget staff add CAN "{number}" to OPS in portfolio "{portfolio}"')
def step_staff_add_can(context, number, portfolio):
    _add_can(context, number, portfolio)


def _line_can(context, amount):
    with _session(context) as session:
        rows = session.execute(select(CAN.number).select_from(BudgetLineItem)
                               .join(CAN, BudgetLineItem.can_id == CAN.id, isouter=True)
                               .where(BudgetLineItem.amount == Decimal(amount))).all()
    assert len(rows) == 1, rows
    return rows[0][0]


@then("the budget lines of {first} and {second} have no CAN")
def step_lines_without_can(context, first, second):
    assert _line_can(context, first) is None
    assert _line_can(context, second) is None


@then('the budget line of {amount} is on CAN "{number}"')
def step_line_on_can(context, amount, number):
    assert _line_can(context, amount) == number


@then('the report warns "{code}" for CANs "{numbers}"')
def step_warns_for_cans(context, code, numbers):
    entry = context.report["findings_detail"].get(code)
    assert entry and entry["severity"] == "warning", context.report["findings_detail"]
    shown = sorted(f["value"] for f in entry["first"])
    assert shown == [n.strip() for n in numbers.split(",")], shown


@then('the report warns "{code}" on {count:d} budget lines')
def step_warns_on_lines(context, code, count):
    assert context.report["findings"].get(code) == count, context.report["findings"]
    assert context.report["findings_detail"][code]["severity"] == "warning"


@then('the report has no "{code}" warning')
def step_no_warning(context, code):
    assert code not in context.report["findings"], context.report["findings"]


@then("no CAN needs a portfolio decision")
def step_no_portfolio_decision(context):
    assert context.report["cans_without_portfolio"] == [], context.report["cans_without_portfolio"]


@then("OPS recorded no history for the second load")
def step_no_history(context):
    first, second = context.history_after[-2:]
    assert first["transaction"] > 0 and first["ops_db_history"] > 0, first
    assert second == first, (first, second)


@then("OPS's history of budget line {line_id:d} has {count:d} versions, the latest with amount {amount}")
def step_line_versions(context, line_id, count, amount):
    versions = version_table("budget_line_item")
    with _session(context) as session:
        rows = session.execute(select(versions.c.transaction_id, versions.c.end_transaction_id,
                                      versions.c.operation_type, versions.c.amount)
                               .where(versions.c.id == line_id).order_by(versions.c.transaction_id)).all()
    assert len(rows) == count, rows
    for older, newer in zip(rows, rows[1:]):  # each version ends where the next begins
        assert older.end_transaction_id == newer.transaction_id, rows
    assert rows[-1].end_transaction_id is None and Decimal(rows[-1].amount) == Decimal(amount), rows
    assert [r.operation_type for r in rows] == [0] + [1] * (count - 1), rows


@then("OPS's audit log shows budget line {line_id:d} created and then updated by the system user")
def step_line_audit(context, line_id):
    with _session(context) as session:
        system = session.execute(select(User.id).where(User.email == "system.admin@email.com")).scalar_one()
        rows = session.execute(select(OpsDBHistory.event_type, OpsDBHistory.class_name, OpsDBHistory.created_by)
                               .where(OpsDBHistory.row_key == str(line_id),
                                      OpsDBHistory.class_name.like("%BudgetLineItem"))
                               .order_by(OpsDBHistory.id)).all()
    assert [(r.event_type, r.class_name, r.created_by) for r in rows] == [
        ("NEW", "ContractBudgetLineItem", system), ("UPDATED", "ContractBudgetLineItem", system)], rows


# -- the stage contract ---------------------------------------------------------------------------

def _fetched(context, amounts):
    rows = [{"CAN": "G99CC01 (CC)", "Sys_Budget_ID": str(100 + i), "Project Title": "CC Study",
             "CIG Name": "CC Contract", "CIG Type": "contract", "Amount": amount, "Status": "planned"}
            for i, amount in enumerate(amounts)]
    context.run = start_run(_write(context, rows, "contract.xlsx"), context.runs_root)


@given("a fetched budget workbook with {count:d} good rows")
def step_fetched_good(context, count):
    _fetched(context, [f"{100 * (i + 1)}.00" for i in range(count)])


@given('a fetched budget workbook where 1 of 3 rows has the amount "{amount}"')
def step_fetched_bad(context, amount):
    _fetched(context, ["100.00", amount, "300.00"])


def _refusal(call) -> str:
    try:
        call()
    except PipelineError as error:
        return error.one_line()
    raise AssertionError("the stage ran instead of refusing")


@when("the operator runs transform before validate")
def step_transform_first(context):
    context.refusal = _refusal(lambda: run_stage("transform", context.run))


@then('transform refuses because "{reason}"')
def step_transform_refuses(context, reason):
    message = _refusal(lambda: run_stage("transform", context.run))
    assert reason in message, message


@then('load refuses because "{reason}"')
def step_load_refuses(context, reason):
    message = _refusal(lambda: run_stage("load", context.run, Options(db_url=_db(context))))
    assert reason in message, message


@given("validate and transform have succeeded")
def step_validated_transformed(context):
    run_stage("validate", context.run)
    run_stage("transform", context.run)


@given("validate has succeeded")
def step_validated(context):
    run_stage("validate", context.run)


@when("the operator reruns validate")
def step_rerun_validate(context):
    run_stage("validate", context.run)


@when("the operator validates it")
def step_validates(context):
    context.summary = run_stage("validate", context.run)


@then('the transform stage is "{status}"')
def step_transform_status(context, status):
    context.run.reload()
    assert context.run.status("transform") == status, context.run.status("transform")


@when("someone edits the validated rows file")
def step_edit_staged(context):
    path = context.run.path / "validate" / "valid_rows.jsonl"
    path.write_text(path.read_text().replace("100.00", "900.00"))


@then("validation reports {valid:d} valid and {rejected:d} rejected rows")
def step_validation_counts(context, valid, rejected):
    rows = context.summary["rows"]
    assert (rows["valid"], rows["rejected"]) == (valid, rejected), rows


@then("transform with accepted rejects produces {count:d} budget lines")
def step_accept_rejects(context, count):
    summary = run_stage("transform", context.run, Options(accept_rejects=True))
    assert summary["counts"]["budget_line_item"] == count, summary["counts"]


@then("the report asks these questions:")
def step_questions(context):
    found = [{"code": q["code"], "row": str(q.get("row") or ""), "question": q["question"]}
             for q in context.report["questions"]]
    assert found == _rows(context.table), found


@then("the report asks no questions")
def step_no_questions(context):
    assert context.report["questions"] == [], context.report["questions"]


# -- dry runs -------------------------------------------------------------------------------------

@given("the run has been loaded into the database")
def step_loaded(context):
    run_stage("load", context.run, Options(db_url=_db(context)))


@when("the operator does a dry run of the load")
def step_dry_run(context):
    run_stage("load", context.run, Options(db_url=_db(context), dry_run=True))
    context.report = run_stage("report", context.run)


@then("the load on record still says {count:d} budget lines inserted")
def step_load_on_record(context, count):
    result = read_json(context.run.path / "load" / "result.json")
    assert result["entities"]["budget_line_item"]["inserted"] == count, result["entities"]
    assert context.report["entities"]["budget_line_item"]["inserted"] == count, context.report["entities"]


@then("the report shows the dry run as a plan: budget lines would be left unchanged {count:d}")
def step_plan_unchanged(context, count):
    planned = context.report["plan"]["entities"]["budget_line_item"]
    assert planned == {"would_insert": 0, "would_update": 0, "would_leave_unchanged": count}, planned


@then('the run\'s status is still "{status}"')
def step_status_still(context, status):
    assert context.report["status"] == status, context.report["status"]
    assert context.report["stages"]["load"]["status"] == "succeeded", context.report["stages"]["load"]


@then('the load stage is still "{status}"')
def step_load_stage(context, status):
    context.run.reload()
    assert context.run.status("load") == status, context.run.status("load")


@then("the report says nothing was loaded and budget lines would be inserted {count:d}")
def step_nothing_loaded(context, count):
    assert (context.report["status"], context.report["entities"], context.report["load"]) == ("dry-run", {}, None)
    assert context.report["plan"]["entities"]["budget_line_item"]["would_insert"] == count
    assert "Nothing was loaded." in render(context.report, "text")


# -- money ------------------------------------------------------------------------------------

@given('the workbook ends with a totals row of {amount}')
def step_totals_row(context, amount):
    from openpyxl import load_workbook

    book = load_workbook(context.workbook)
    sheet = book.active
    sheet.append([])
    sheet.append(["Total"] + [None] * (HEADER.index("Amount") - 1) + [float(amount)])
    book.save(context.workbook)


@when("the workbook goes through the pipeline into the database, loading the valid rows")
def step_pipeline_accepting(context):
    context.outcome = run_pipeline(context.workbook, runs_root=context.runs_root, db_url=_db(context),
                                   accept_rejects=True)
    context.report = context.outcome.report


@then('the report says {amount} was read, {loaded} loaded, {rejected} rejected and {skipped} skipped')
def step_money_totals(context, amount, loaded, rejected, skipped):
    from ops_pipeline.money import dollars

    money = context.report["money"]
    assert [dollars(money[k]) for k in ("read", "loaded", "rejected", "skipped")] == \
        [amount, loaded, rejected, skipped], money


@then('the loaded total matches the totals row')
def step_totals_match(context):
    reconciliation = context.report["money"]["reconciliation"]
    assert reconciliation["status"] == "matches", reconciliation
    assert "totals-mismatch" not in context.report["findings"]


@then('the report finds that the totals row says {stated} but the lines loaded add up to {loaded}')
def step_totals_mismatch(context, stated, loaded):
    from ops_pipeline.money import dollars

    reconciliation = context.report["money"]["reconciliation"]
    assert reconciliation["status"] == "mismatch", reconciliation
    assert (dollars(reconciliation["workbook_total"]), dollars(reconciliation["pipeline_total"])) == (stated, loaded)
    assert context.report["findings"]["totals-mismatch"] == 1
    message = context.report["findings_detail"]["totals-mismatch"]["first"][0]["message"]
    assert stated in message and loaded in message, message


@then('the rejected and skipped rows account for the difference')
def step_totals_explained(context):
    assert context.report["money"]["reconciliation"]["explained"] is True


@then('the {status} lines of fiscal year {year:d} add up to {amount}')
def step_money_groups(context, status, year, amount):
    from ops_pipeline.money import dollars

    money = context.report["money"]
    assert dollars(money["by_status"][status]["loaded"]) == amount, money["by_status"]
    assert f"FY{year}" in money["by_fiscal_year"], money["by_fiscal_year"]
