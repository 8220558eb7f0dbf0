"""Steps for single-cell rules: they call the same rule functions that validate calls."""
from decimal import Decimal

from behave import given, then, when

from ops_pipeline.rules import RuleViolation
from ops_pipeline.rules.can import parse_can
from ops_pipeline.rules.codes import parse_agreement_type, parse_status
from ops_pipeline.rules.dates import fiscal_year, parse_date
from ops_pipeline.rules.money import parse_amount
from ops_pipeline.rules.portfolios import portfolio_for


def _none(text: str) -> str | None:
    """Tables write an empty value as (none), so that a reviewer sees it is deliberate."""
    return None if text == "(none)" else text


def _apply(context, parser, value):
    context.violation = None
    context.parsed = None
    try:
        context.parsed = parser(value)
    except RuleViolation as violation:
        context.violation = violation


@when('the CAN cell reads "{cell}"')
def step_can_cell(context, cell):
    _apply(context, parse_can, cell)


@then('the CAN number is "{number}"')
def step_can_number(context, number):
    assert context.violation is None, context.violation
    assert context.parsed.number == number, context.parsed


@then('the CAN description is "{description}"')
def step_can_description(context, description):
    assert context.parsed.description == _none(description), context.parsed


@then('the row is rejected with "{code}"')
def step_rejected_with(context, code):
    assert context.violation is not None, f"accepted as {context.parsed!r}"
    assert context.violation.code == code, context.violation.code


@given('a CAN described as "{description}"')
def step_can_described(context, description):
    context.portfolio = portfolio_for(_none(description))


@then('its portfolio is "{portfolio}"')
def step_portfolio_is(context, portfolio):
    assert context.portfolio == portfolio, context.portfolio


@then("it has no portfolio and needs a decision")
def step_no_portfolio(context):
    assert context.portfolio is None, context.portfolio


@when('the Status cell reads "{cell}"')
def step_status_cell(context, cell):
    _apply(context, parse_status, cell)


@then('the budget line status is "{status}"')
def step_status_is(context, status):
    assert context.violation is None, context.violation
    assert context.parsed == status, context.parsed


@when('the CIG Type cell reads "{cell}"')
def step_type_cell(context, cell):
    _apply(context, parse_agreement_type, cell)


@then('the agreement type is "{kind}"')
def step_type_is(context, kind):
    assert context.violation is None, context.violation
    assert context.parsed == kind, context.parsed


@when('the Amount cell reads "{cell}"')
def step_amount_cell(context, cell):
    _apply(context, parse_amount, cell)


@then("the amount is {amount}")
def step_amount_is(context, amount):
    assert context.violation is None, context.violation
    assert context.parsed == Decimal(amount), context.parsed
    assert str(context.parsed) == amount, str(context.parsed)


@when('the Date Needed cell reads "{cell}"')
def step_date_cell(context, cell):
    _apply(context, parse_date, cell)


@when("the Date Needed cell holds the number {number:d}")
def step_date_number(context, number):
    _apply(context, parse_date, number)


@then("the date needed is {day}")
def step_date_is(context, day):
    assert context.violation is None, context.violation
    assert context.parsed.isoformat() == day, context.parsed


@then("the fiscal year is {year:d}")
def step_fiscal_year(context, year):
    assert fiscal_year(context.parsed) == year


def _number(text: str):
    """A number cell as the reader gives it: an int for a whole number written without a point."""
    return int(text) if text.lstrip("-").isdigit() else float(text)


@when("the Amount cell holds the number {number}")
def step_amount_number(context, number):
    _apply(context, parse_amount, _number(number))


@when("the PSCFee Amount cell holds the number {number}")
def step_fee_number(context, number):
    _apply(context, parse_amount, _number(number))


#: Control characters by the names an analyst may meet them under.
CONTROL_CHARACTERS = {"NUL": "\x00", "ESC": "\x1b", "BEL": "\x07", "vertical tab": "\x0b", "form feed": "\x0c",
                      "DEL": "\x7f", "tab": "\t", "line break": "\n"}
_ROW = {"CAN": "G994648 (CC)", "Sys_Budget_ID": 1, "Project Title": "Child Care Research", "CIG Name": "CCRP",
        "CIG Type": "contract", "Line Desc": "Year 1", "Date Needed": "2025-03-11", "Amount": "$ 1,234.00",
        "PSCFee Amount": "61.73", "Status": "draft", "Comments": "ok"}


@when('the {column} cell reads "{text}" with a {name} in it')
def step_cell_with_control_character(context, column, text, name):
    """The whole row is judged as validate judges it, with the cell changed."""
    from ops_pipeline.datasets.registry import get_dataset
    from ops_pipeline.stages.rows import RowJudge

    dataset = get_dataset("budget-workbook")
    header = list(_ROW)
    table, _ = dataset.locate("All Budget - Cur", [(1, tuple(header))])
    judge = RowJudge(dataset, table, date1904=False, max_chars=32_767, display_name="budget.xlsx")
    half = len(text) // 2
    values = dict(_ROW, **{column: text[:half] + CONTROL_CHARACTERS[name] + text[half:]})
    verdict = judge.judge(2, tuple(values[h] for h in header))
    context.parsed = verdict[0]
    context.violation = None
    if verdict[0] == "rejected":
        import json

        finding = json.loads(verdict[2][0])
        context.violation = RuleViolation(finding["code"], finding["message"])
        context.finding = finding


@then("the row is valid")
def step_row_valid(context):
    assert context.violation is None, context.violation
    assert context.parsed == "valid", context.parsed


@then("the finding names the cell {cell}")
def step_finding_cell(context, cell):
    assert context.finding["cell"] == cell, context.finding
