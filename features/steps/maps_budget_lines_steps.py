"""Steps for MAPS budget-line exports: the same library functions the CLI calls (run_pipeline)."""
from decimal import Decimal
from pathlib import Path

from behave import given, then, when
from sqlalchemy import select

from ops_pipeline.db import ops_models as m
from ops_pipeline.db.engine import make_engine
from ops_pipeline.pipeline import Options, run_pipeline, run_stage, start_run
from tests.maps_line_parents import agreement_id, seed_line_parents
from tests.maps_steps import scenario_db as _db, query as _query, run_findings

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "maps"
KIND_WORDS = {"contract": "CONTRACT", "grant": "GRANT", "IAA": "IAA", "direct obligation": "DIRECT_OBLIGATION"}


def _lines(context) -> dict:
    return {row.id: row for row in _query(context, select(m.BudgetLineItem.__table__))}


def _findings(context) -> list[dict]:
    return run_findings(context.run)


@given("OPS already holds the agreements, CANs and users of the small MAPS export")
def step_parents(context):
    engine = make_engine(_db(context))
    try:
        with engine.begin() as conn:
            seed_line_parents(conn)
    finally:
        engine.dispose()


@given("the contract lines of the small export are in OPS")
def step_contract_lines_loaded(context):
    outcome = run_pipeline(str(DATA / "small" / "contract_budget_lines.tsv"), runs_root=context.runs_root,
                           db_url=_db(context))
    assert outcome.error is None, outcome.error.one_line()


@when('the analyst loads the MAPS file "{path}"')
def step_load(context, path):
    context.outcome = run_pipeline(str(DATA / path), runs_root=context.runs_root, db_url=_db(context))
    context.run = context.outcome.run


@when("the analyst loads the rest of the file, leaving the refused lines out")
def step_load_rest(context):
    run_stage("load", context.run, Options(db_url=_db(context), accept_rejects=True))


@when('the analyst validates the MAPS file "{path}"')
def step_validate(context, path):
    context.run = start_run(str(DATA / path), context.runs_root)
    try:
        run_stage("validate", context.run, Options())
    except Exception:  # rejected rows fail the stage; its findings are what the scenario reads
        pass


@then("OPS holds {count:d} {kind} budget lines with ids {first:d} to {last:d}")
def step_holds(context, count, kind, first, last):
    assert context.outcome.error is None, context.outcome.error.one_line()
    lines = {i: row for i, row in _lines(context).items() if row.budget_line_item_type == KIND_WORDS[kind]}
    assert sorted(lines) == list(range(first, last + 1)) and len(lines) == count, sorted(lines)


@then("budget line {line_id:d} is in OPS under the {kind} with MAPS id {maps_id:d}")
def step_under(context, line_id, kind, maps_id):
    line = _lines(context)[line_id]
    assert line.agreement_id == agreement_id(KIND_WORDS[kind], maps_id), line.agreement_id


@then("budget line {line_id:d} is not in OPS")
def step_not_in(context, line_id):
    assert line_id not in _lines(context)


@then("no budget line is in OPS")
def step_none(context):
    assert _lines(context) == {}


@then("budget line {line_id:d} is closed, certified and not on hold")
def step_flags(context, line_id):
    line = _lines(context)[line_id]
    assert (line.closed, line.certified, line.on_hold) == (True, True, False)


@then("budget line {line_id:d} has the amount {amount} and the fee rate {rate}")
def step_amount(context, line_id, amount, rate):
    line = _lines(context)[line_id]
    assert (line.amount, line.proc_shop_fee_percentage) == (Decimal(amount), Decimal(rate))


@then('budget lines {first:d} and {second:d} share the grantee details of "{grantee}" in {state}')
def step_shared_details(context, first, second, grantee, state):
    details = dict(_query(context, select(m.GrantBudgetLineItem.id, m.GrantBudgetLineItem.details_id)))
    assert details[first] == details[second] is not None
    (row,) = _query(context, select(m.GrantBudgetLineItemDetail.__table__).where(
        m.GrantBudgetLineItemDetail.id == details[first]))
    assert (row.grantee_name, row.state_code) == (grantee, state)


@then('the load is refused, naming "{cell}"')
def step_refused(context, cell):
    error = context.outcome.error
    assert error is not None and error.stage == "load", error
    assert f"{cell}:" in str(error) or f"{cell} " in str(error), str(error)


@then('the finding {code} is reported at "{cell}"')
def step_finding(context, code, cell):
    found = [(f["code"], f.get("cell")) for f in _findings(context)]
    assert (code, cell) in found, found


@then('the finding {code} is reported as a warning at "{cell}"')
def step_warning(context, code, cell):
    found = [(f["code"], f.get("cell"), f["severity"]) for f in _findings(context)]
    assert (code, cell, "warning") in found, found


@then('no finding is reported at "{cell}"')
def step_no_finding(context, cell):
    found = [f for f in _findings(context) if f.get("cell") == cell]
    assert found == [], found


@then("budget line {line_id:d} is in OPS without a CAN")
def step_no_can(context, line_id):
    assert _lines(context)[line_id].can_id is None


@then("budget line {line_id:d} is still a contract line")
def step_still_contract(context, line_id):
    assert _lines(context)[line_id].budget_line_item_type == "CONTRACT"
    assert (line_id,) in _query(context, select(m.ContractBudgetLineItem.id))


@then("budget line {line_id:d} has no fee rate and no document-received flag")
def step_blank_iaa(context, line_id):
    line = _lines(context)[line_id]
    assert (line.proc_shop_fee_percentage, line.doc_received) == (None, None)


@then("budget line {line_id:d} has the document-received flag {flag}")
def step_doc_flag(context, line_id, flag):
    assert _lines(context)[line_id].doc_received is {"true": True, "false": False}[flag]
