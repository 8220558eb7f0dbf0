"""Steps of spreadsheets both ways: the export, the write-back and the upload, as the CLI calls them."""
from decimal import Decimal

import openpyxl
from behave import then, when
from sqlalchemy import func, inspect, select, text

from ops_pipeline.budget_export import export_lines
from ops_pipeline.db.engine import make_engine
from ops_pipeline.db.ops_models import BudgetLineItem
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.writeback import write_back


def _lines(url) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {r.line_description: tuple(r) for r in conn.execute(select(BudgetLineItem.__table__))}
    finally:
        engine.dispose()


def _counts(url) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = [n for n in inspect(conn).get_table_names() if not n.startswith("ops_pipeline")]
            return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar() for n in names}
    finally:
        engine.dispose()


def _upload(context, path):
    context.before = {"lines": _lines(context.db_url), "counts": _counts(context.db_url)}
    outcome = run_pipeline(str(path), runs_root=context.runs_root, db_url=context.db_url)
    assert outcome.error is None, outcome.error.one_line()
    return outcome.report["entities"]["budget_line_item"]


@when("I download my budget lines as a workbook")
def step_download(context):
    context.downloaded = context.tmp / "my-lines.xlsx"
    export_lines(context.db_url, context.downloaded)


@when('I change the amount of "{description}" to {amount} in the downloaded workbook')
def step_change_amount(context, description, amount):
    book = openpyxl.load_workbook(context.downloaded)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    # the current layout's names (the download's default), or the classic layout's
    text_at = header.index("Description" if "Description" in header else "Line Desc")
    amount_at = header.index("SubTotal" if "SubTotal" in header else "Amount")
    row = next(r for r in sheet.iter_rows(min_row=2) if r[text_at].value == description)
    row[amount_at].value = float(amount)
    book.save(context.downloaded)


@when("I upload the downloaded workbook")
def step_upload(context):
    context.upload = _upload(context, context.downloaded)


@then("the upload reports budget lines inserted {inserted:d}, updated {updated:d}, unchanged {unchanged:d}")
def step_upload_counts(context, inserted, updated, unchanged):
    counts = context.upload
    assert (counts["inserted"], counts["updated"], counts["unchanged"]) == (inserted, updated, unchanged), counts


@then('only "{description}" changed in OPS, and its amount is {amount}')
def step_only_that_line(context, description, amount):
    after = _lines(context.db_url)
    changed = [name for name in after if after[name] != context.before["lines"].get(name)]
    assert changed == [description], changed
    engine = make_engine(context.db_url)
    with engine.connect() as conn:
        stored = conn.execute(select(BudgetLineItem.amount).where(BudgetLineItem.line_description == description)).scalar()
    engine.dispose()
    assert Decimal(stored) == Decimal(amount), stored


@then("OPS holds exactly what it held before the upload, history included")
def step_nothing_written(context):
    assert _lines(context.db_url) == context.before["lines"]
    assert _counts(context.db_url) == context.before["counts"]


@when("I ask for a copy of my workbook with the ids OPS gave the new lines")
def step_writeback(context):
    context.copy = context.tmp / "budget-with-ids.xlsx"
    write_back(context.outcome.run, context.copy, db_url=context.db_url)


@then("every line of the copy has its OPS id")
def step_copy_ids(context):
    sheet = openpyxl.load_workbook(context.copy).active
    header = [c.value for c in sheet[1]]
    ids = {r[header.index("Line Desc")].value: r[header.index("Sys_Budget_ID")].value
           for r in sheet.iter_rows(min_row=2)}
    stored = {name: line[0] for name, line in _lines(context.db_url).items()}
    assert ids == stored, (ids, stored)


@then("uploading the copy reports budget lines inserted {inserted:d}, updated {updated:d}, unchanged {unchanged:d}")
def step_upload_copy(context, inserted, updated, unchanged):
    context.upload = _upload(context, context.copy)
    step_upload_counts(context, inserted, updated, unchanged)
    step_nothing_written(context)
