"""Steps for features/security.feature: the same library functions the CLI calls."""
import csv
import datetime as dt
import json
import os
import stat
from pathlib import Path

from behave import given, then, when
from openpyxl import Workbook, load_workbook

from ops_pipeline.errors import PipelineError
from ops_pipeline.export import export_rejects
from ops_pipeline.purge import purge
from ops_pipeline.pipeline import run_stage, start_run
from ops_pipeline.rundir import RunDir, write_json

HEADER = ["CAN", "Sys_Budget_ID", "Project Title", "CIG Name", "CIG Type", "Line Desc", "Date Needed",
          "Amount", "PSCFee Amount", "Status", "Comments"]
GOOD = ["G994648 (CC - SB - 5 YR)", 15001, "Child Care Research Partnerships", "CCRP Contract", "contract",
        "Year 1 evaluation", dt.datetime(2025, 3, 11), 1234.5, 61.73, "OPRE - CURRENT", "Per Jordan Alvarez"]
#: The corpus of real spreadsheets in the repository (OPS_PIPELINE_CORPUS overrides it, as in tests/).
CORPUS = Path(os.environ.get("OPS_PIPELINE_CORPUS")
              or Path(__file__).resolve().parents[2] / "tests" / "corpus" / "real")
STAGED = ("fetch/", "validate/valid_rows.jsonl", "validate/rejected.jsonl", "validate/skipped.jsonl")


def _security_workbook(context, **cells) -> str:
    book = Workbook()
    sheet = book.active
    sheet.title = "All Budget - Cur"
    sheet.append(HEADER)
    sheet.append(GOOD)
    row = list(GOOD)
    row[1] = 15002
    for column, value in cells.items():
        row[HEADER.index(column)] = value
    sheet.append(row)
    for cell in sheet[3]:
        if cell.data_type == "f":  # text that starts with "=" stays text, as in the sender's file
            cell.data_type = "s"
    path = context.tmp / "security.xlsx"
    book.save(path)
    context.source = str(path)
    return context.source


@given('a security test workbook with the comment "{comment}" holding a control character, '
       'and the amount "{amount}"')
def step_canary_workbook(context, comment, amount):
    # The canaries first: a finding that showed the cell would show its beginning. The workbook's
    # XML escapes the BEL (openpyxl will not write the character itself); readers read it back.
    _security_workbook(context, Comments=comment + " _x0007_", Amount=amount)


@given('a security test workbook whose rejected row has the line description "{text}"')
def step_formula_workbook(context, text):
    _security_workbook(context, **{"Line Desc": text, "Status": "not a status"})
    context.run = start_run(context.source, context.runs_root)
    run_stage("validate", context.run)


@given('the password-protected workbook "{name}" from the corpus')
def step_corpus_workbook(context, name):
    assert (CORPUS / name).is_file(), f"missing prerequisite: {name} is not in the corpus at {CORPUS}"
    context.source = str(CORPUS / name)


@when("the security test workbook goes through validation and the report")
def step_validate_and_report(context):
    context.run = start_run(context.source, context.runs_root)
    context.error = None
    try:
        run_stage("validate", context.run)
    except PipelineError as error:
        context.error = error
    run_stage("report", context.run)


def _outside_staged(run: RunDir) -> str:
    texts = []
    for path in sorted(run.path.rglob("*")):
        rel = path.relative_to(run.path).as_posix()
        if path.is_file() and not rel.startswith(STAGED):
            texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


@then('nothing outside the staged data mentions "{text}"')
def step_nothing_mentions(context, text):
    assert text.lower() not in _outside_staged(context.run).lower()


@then('the "{code}" finding shows the value as "{shown}"')
def step_finding_value(context, code, shown):
    data = json.loads((context.run.path / "report" / "report.json").read_text())
    assert data["findings_detail"][code]["first"][0]["value"] == shown


@then('the comment is rejected as "{code}" and the finding shows it as "{shown}"')
def step_comment_finding(context, code, shown):
    findings = [json.loads(line) for line in
                (context.run.path / "validate" / "findings.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(f["code"], f["value"]) for f in findings if f.get("field") == "comments"] == [(code, shown)]
    data = json.loads((context.run.path / "report" / "report.json").read_text())
    assert [entry["value"] for entry in data["findings_detail"][code]["first"]] == [shown]


@then('the staged rejected rows still hold "{text}"')
def step_staged_hold(context, text):
    assert text in (context.run.path / "validate" / "rejected.jsonl").read_text(encoding="utf-8")


@when('its rejected rows are exported to "{file}"')
def step_export(context, file):
    context.export = context.tmp / file
    export_rejects(context.run, context.export)


def _exported_line_description(path: Path):
    if path.suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return rows[0]["Line Desc"]
    sheet = load_workbook(path).active
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("Line Desc") + 1)
    assert cell.data_type != "f"
    return cell.value


@then('the exported line description is "{exported}"')
def step_exported(context, exported):
    assert _exported_line_description(context.export) == exported


@then("the export can be read only by its owner")
def step_export_private(context):
    assert stat.S_IMODE(context.export.stat().st_mode) == 0o600


@then('validation stops with "{phrase}"')
def step_validation_stops(context, phrase):
    assert context.error is not None and phrase in context.error.one_line()
    assert "not a zip file" not in context.error.one_line().lower()


@given("a security test run created {days:d} days ago")
def step_old_run(context, days):
    _security_workbook(context, Amount="bad")
    run = start_run(context.source, context.runs_root)
    run_stage("validate", run)
    run_stage("report", run)
    run.reload()
    created = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    run.manifest["created_at"] = created.isoformat().replace("+00:00", "Z")
    write_json(run.path / "manifest.json", run.manifest)
    context.run = run


@when('the operator purges runs older than "{age}"')
def step_purge(context, age):
    context.purged = purge(context.runs_root, age)


@then("the run keeps its manifest, report and event log")
def step_kept(context):
    for name in ("manifest.json", "report/report.json", "report/report.md", "logs/events.jsonl",
                 "validate/summary.json"):
        assert (context.run.path / name).is_file(), name


@then("the run's source copy and staged rows are gone")
def step_gone(context):
    assert not any((context.run.path / "fetch").iterdir())
    assert not list((context.run.path / "validate").glob("*.jsonl"))


@then('validating the run again is refused because its data "{phrase}"')
def step_refused(context, phrase):
    try:
        run_stage("validate", RunDir(context.run.path))
    except PipelineError as error:
        assert phrase in error.one_line(), error.one_line()
    else:
        raise AssertionError("validate ran on a purged run")
