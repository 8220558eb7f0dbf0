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
