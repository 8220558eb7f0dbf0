"""Steps for budget staff's current layout: the same library functions the CLI calls."""
import datetime as dt

from behave import given, then, when
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops_pipeline.datasets.budget_current import HEADERS
from ops_pipeline.db.engine import init_schema, make_engine
from ops_pipeline.db.ops_models import (Agreement, BudgetLineItem, OpsDBHistory, ProcurementShop,
                                        ServicesComponent, transaction_table)
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.rules import RuleViolation
from ops_pipeline.rules.current import parse_services_component, services_component_display_name


def _db(context) -> str:
    if not getattr(context, "db_url", None):
        context.db_url = f"sqlite:///{context.tmp / 'ops.db'}"
        init_schema(context.db_url)
    return context.db_url


def _session(context) -> Session:
    return Session(make_engine(_db(context)))


def _cell(heading: str, text: str):
    """A table cell as budget staff type it: numbers as numbers, the rest as text."""
    if not text:
        return None
    if heading in ("BL ID #", "FY", "SubTotal", "Procurement shop fee", "Procurement shop fee rate"):
        try:
            return int(text) if text.isdigit() else float(text)
        except ValueError:
            return text
    if heading == "Obligate By":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text
    return text


def _write(context, table, name: str = "current.xlsx", header=HEADERS) -> str:
    book = Workbook()
    ws = book.active
    ws.title = "FY25 Budget"
    ws.append(["OPRE budget lines, current layout"])
    ws.append(list(header))
    for row in table:
        ws.append([_cell(h, row[h]) if h in row.headings else None for h in header])
    path = context.tmp / name
    book.save(path)
    return str(path)


def _history(context) -> dict:
    with _session(context) as session:
        return {t.name: session.execute(select(func.count()).select_from(t)).scalar()
                for t in (transaction_table, OpsDBHistory.__table__)}


def _run(context, path: str):
    context.outcome = run_pipeline(path, runs_root=context.runs_root, db_url=_db(context))
    context.report = context.outcome.report
    context.histories = getattr(context, "histories", []) + [_history(context)]


@given('OPS has the procurement shops "{abbreviations}"')
def step_shops(context, abbreviations):
    with _session(context) as session, session.begin():
        for abbr in abbreviations.split(","):
            session.add(ProcurementShop(name=f"{abbr.strip()} shop", abbr=abbr.strip()))


@given('OPS has the severable contract "{name}"')
def step_severable(context, name):
    from ops_pipeline.db.ops_models import ContractAgreement

    with _session(context) as session, session.begin():
        session.add(ContractAgreement(name=name, agreement_type="CONTRACT", notes="", delivered_status=False,
                                      service_requirement_type="SEVERABLE"))


@given('OPS has the contract "{name}" with procurement shop "{abbr}"')
def step_contract_with_shop(context, name, abbr):
    from ops_pipeline.db.ops_models import ContractAgreement

    with _session(context) as session, session.begin():
        shop = session.execute(select(ProcurementShop).where(ProcurementShop.abbr == abbr)).scalar_one()
        session.add(ContractAgreement(name=name, agreement_type="CONTRACT", notes="", delivered_status=False,
                                      awarding_entity_id=shop.id))


@given("a budget workbook in the current layout with these rows:")
def step_current_workbook(context):
    context.current_table = context.table
    context.workbook = _write(context, context.table)


@given("the budget sheet in the current layout, saved as tab-separated text, with these rows:")
def step_current_text(context):
    """Every cell as the text the table shows (a sheet saved as text has no numbers or dates)."""
    lines = ["OPRE budget lines, current layout", "\t".join(HEADERS)]
    lines += ["\t".join(row[h] if h in row.headings else "" for h in HEADERS) for row in context.table]
    path = context.tmp / "budget lines.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    context.workbook = str(path)


@given("a budget workbook whose header row has the columns {columns}")
def step_header_only(context, columns):
    header = [c.strip().strip('"') for c in columns.split(",")]
    book = Workbook()
    book.active.append(header)
    book.active.append(["G99CC01 (CC)"] + [None] * (len(header) - 1))
    context.workbook = str(context.tmp / "header.xlsx")
    book.save(context.workbook)


@when("the current-layout workbook goes through the pipeline")
@when("the text file goes through the pipeline")
@given("the current-layout workbook has gone through the pipeline")
def step_run_current(context):
    _run(context, context.workbook)


@when("budget staff change the rows to these and it goes through the pipeline:")
def step_rerun_changed(context):
    _run(context, _write(context, context.table, "current-v2.xlsx"))


@then("the load succeeds")
def step_succeeds(context):
    assert context.outcome.error is None, context.outcome.error.one_line()


@then('the run is refused: "{message}"')
def step_refused(context, message):
    error = context.outcome.error
    assert error is not None, "the run was not refused"
    assert message in error.one_line(), error.one_line()


@then('the report has the finding "{code}" at {cell} saying "{text}"')
def step_finding(context, code, cell, text):
    entry = context.report["findings_detail"].get(code)
    assert entry, sorted(context.report["findings_detail"])
    cells = {f.get("cell"): f["message"] for f in entry["first"]}
    assert cell in cells, cells
    assert text in cells[cell], cells[cell]


@then('the file is read as the classic layout, with the extra columns "{columns}"')
def step_classic_with_extras(context, columns):
    from ops_pipeline.rundir import read_json

    summary = read_json(context.outcome.run.path / "validate" / "summary.json")
    assert summary["dataset"] == "budget-workbook", summary["dataset"]
    assert summary["extra_columns"] == [c.strip() for c in columns.split(",")], summary["extra_columns"]


@then('the report has no "{code}" finding')
def step_no_finding(context, code):
    assert code not in context.report["findings"], context.report["findings"]


@then("the database has these services components:")
def step_components(context):
    with _session(context) as session:
        rows = session.execute(
            select(Agreement.name, ServicesComponent.number, ServicesComponent.optional,
                   ServicesComponent.sub_component, ServicesComponent.display_name_for_sort)
            .join(Agreement, ServicesComponent.agreement_id == Agreement.id).order_by(ServicesComponent.id)).all()
    found = [{"agreement": a, "number": str(n), "optional": "yes" if o else "no", "sub-component": s or "",
              "shown as": d} for a, n, o, s, d in rows]
    expected = [{h: row[h] for h in row.headings} for row in context.table]
    assert found == expected, found


@then("the budget lines are on these services components:")
def step_line_components(context):
    with _session(context) as session:
        rows = session.execute(
            select(BudgetLineItem.line_description, ServicesComponent.display_name_for_sort,
                   ServicesComponent.sub_component, BudgetLineItem.service_component_name_for_sort)
            .join(ServicesComponent, BudgetLineItem.services_component_id == ServicesComponent.id, isouter=True)
            .order_by(BudgetLineItem.line_description)).all()
    found = [{"description": d, "services component": (s or n or ""), "sorted as": o or ""} for d, n, s, o in rows]
    expected = [{h: row[h] for h in row.headings} for row in context.table]
    assert found == expected, found


@then('agreement "{name}" has procurement shop "{abbr}"')
def step_agreement_shop(context, name, abbr):
    with _session(context) as session:
        found = session.execute(select(ProcurementShop.abbr).join(
            Agreement, Agreement.awarding_entity_id == ProcurementShop.id).where(Agreement.name == name)).scalar()
    assert found == abbr, found


@then("the database has {count:d} budget lines in all")
def step_line_count(context, count):
    with _session(context) as session:
        found = session.execute(select(func.count()).select_from(BudgetLineItem)).scalar()
    assert found == count, found


@then('budget line {line_id:d} has the description "{text}"')
def step_line_description(context, line_id, text):
    with _session(context) as session:
        line = session.get(BudgetLineItem, line_id)
        assert line is not None and line.line_description == text, line and line.line_description


@then("every entity of the second load is unchanged and OPS recorded no history for it")
def step_unchanged(context):
    for kind, counts in context.report["entities"].items():
        assert counts["inserted"] == counts["updated"] == 0, (kind, counts)
    assert context.histories[-1] == context.histories[-2], context.histories


@then("the report lists as read but not loaded:")
def step_not_loaded(context):
    found = sorted(context.report["not_loaded"])
    assert found == sorted(row["column"] for row in context.table), found


@then('the report never shows the comment "{text}"')
def step_comment_masked(context, text):
    from ops_pipeline.stages.report import render

    for fmt in ("json", "md", "text"):
        assert text not in render(context.report, fmt), fmt


@when("the SC cell is blank")
def step_sc_blank(context):
    step_sc_cell(context, "")


@when('the SC cell reads "{cell}"')
def step_sc_cell(context, cell):
    try:
        context.component, context.violation = parse_services_component(cell or None), None
    except RuleViolation as violation:
        context.component, context.violation = None, violation


@then('it is services component {number:d}, optional "{optional}", sub-component "{sub}", shown as "{name}"')
def step_sc_parsed(context, number, optional, sub, name):
    component = context.component
    assert component is not None, context.violation and context.violation.message
    assert (component.number, component.optional, component.sub_component or "") == \
        (number, optional == "yes", "" if sub == "none" else sub), component
    assert services_component_display_name(component.number, component.optional, severable=False) == name


@then("the line has no services component")
def step_sc_none(context):
    assert context.component is None and context.violation is None


@then('the SC cell is an error "{code}"')
def step_sc_error(context, code):
    assert context.violation is not None and context.violation.code == code, context.component
