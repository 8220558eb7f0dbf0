"""The CLI: exit codes, one-line errors, stdout contracts, and --json equal to the library."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.db.engine import make_engine
from ops_pipeline.rundir import RunDir, find_runs, read_json
from ops_pipeline.stages.report import build_report

from .conftest import HEADER, good_row


@pytest.fixture
def invoke(runs_root):
    runner = CliRunner()

    def call(*args):
        return runner.invoke(cli, ["--runs-root", str(runs_root), "-q", *map(str, args)], catch_exceptions=False)

    return call


def test_fetch_prints_only_the_run_directory(invoke, make_workbook, runs_root):
    result = invoke("fetch", make_workbook([good_row()]))
    assert result.exit_code == 0
    [path] = find_runs(runs_root)  # the run directory fetch made, found without its output
    assert result.stdout == f"{path.resolve()}\n"


def test_stage_by_stage_then_report_json(invoke, make_workbook, db_url):
    run = invoke("fetch", make_workbook([good_row(budget_id=1), good_row(budget_id=2)])).stdout.strip()
    assert invoke("validate", run).exit_code == 0
    assert invoke("transform", run).exit_code == 0
    load = invoke("load", run, "--db", db_url, "--json")
    assert load.exit_code == 0
    assert json.loads(load.stdout)["entities"]["budget_line_item"] == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    result = invoke("report", run, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["status"] == "succeeded"
    assert data["rows"] == {"read": 2, "valid": 2, "rejected": 0, "skipped": 0}
    assert data["entities"]["can"] == {"inserted": 1, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    assert data["cans_without_portfolio"] == []
    again = invoke("load", run, "--db", db_url, "--json")
    assert json.loads(again.stdout)["entities"]["budget_line_item"] == {"inserted": 0, "updated": 0, "unchanged": 2, "skipped": 0, "rejected": 0}


def test_validate_json_equals_the_library_result(invoke, make_workbook):
    run = invoke("fetch", make_workbook([good_row()])).stdout.strip()
    result = invoke("validate", run, "--json")
    from ops_pipeline.rundir import read_json

    assert json.loads(result.stdout) == read_json(Path(run) / "validate" / "summary.json")


def test_report_json_equals_build_report(invoke, make_workbook):
    run = invoke("fetch", make_workbook([good_row()])).stdout.strip()
    invoke("validate", run)
    data = json.loads(invoke("report", run, "--format", "json").stdout)
    assert data == read_json(Path(run) / "report" / "report.json")  # what the report stage returned
    library = json.loads(json.dumps(build_report(RunDir(run)), default=str))
    # Equal but for how long the report stage itself took, which each call measures anew.
    assert {k: v for k, v in data.items() if k != "stages"} == {k: v for k, v in library.items() if k != "stages"}
    assert {name: stage["status"] for name, stage in data["stages"].items()} == {
        "fetch": "succeeded", "validate": "succeeded", "transform": "pending", "load": "pending",
        "report": "succeeded"}
    for name in ("fetch", "validate", "transform", "load"):
        assert data["stages"][name] == library["stages"][name]
    assert data["status"] == "incomplete"


def test_rejected_rows_exit_1_with_the_hint(invoke, make_workbook):
    run = invoke("fetch", make_workbook([good_row(status="Pending review")])).stdout.strip()
    result = invoke("validate", run)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: validate rejected 1 row; nothing is transformed or loaded "
        "(hint: fix the file, or load the valid rows with --accept-rejects)")


def test_run_stops_at_the_first_failed_stage_and_still_reports(invoke, make_workbook, sqlite_url):
    result = invoke("run", make_workbook([good_row(amount="$ 234,1552,303.08")]), "--db", sqlite_url,
                    "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "invalid"
    assert data["findings"] == {"bad-amount": 1}
    assert data["stages"]["load"]["status"] == "pending"
    assert result.stderr.strip().endswith("(hint: fix the file, or load the valid rows with --accept-rejects)")


def test_run_with_accept_rejects_loads_the_valid_rows(invoke, make_workbook, sqlite_url):
    result = invoke("run", make_workbook([good_row(budget_id=1), good_row(budget_id=2, status="bogus")]),
                    "--db", sqlite_url, "--accept-rejects", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["status"] == "succeeded"
    assert data["rows"]["rejected"] == 1
    assert data["rejected_rows"] == [{"row": 3, "codes": ["unknown-status"]}]
    assert data["entities"]["budget_line_item"]["inserted"] == 1


def test_dry_run_writes_nothing(invoke, make_workbook, sqlite_url):
    from sqlalchemy import text

    result = invoke("run", make_workbook([good_row()]), "--db", sqlite_url, "--dry-run", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["status"] == "dry-run"
    assert data["plan"]["entities"]["budget_line_item"] == {"would_insert": 1, "would_update": 0,
                                                           "would_leave_unchanged": 0}
    assert (data["entities"], data["load"], data["stages"]["load"]["status"]) == ({}, None, "pending")
    with make_engine(sqlite_url).connect() as conn:
        assert conn.execute(text("select count(*) from budget_line_item")).scalar() == 0
        assert conn.execute(text("select count(*) from ops_pipeline_run")).scalar() == 0


def test_missing_file_is_a_usage_error(invoke, tmp_path):
    result = invoke("fetch", tmp_path / "nope.xlsx")
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nope.xlsx'}: no such file (hint: give the path of a workbook or an s3:// URI)\n"
    assert result.stdout == ""


def test_no_database_given(invoke, make_workbook, monkeypatch):
    monkeypatch.delenv("OPS_PIPELINE_DB_URL", raising=False)
    monkeypatch.delenv("VCAP_SERVICES", raising=False)
    run = invoke("fetch", make_workbook([good_row()])).stdout.strip()
    invoke("validate", run)
    invoke("transform", run)
    result = invoke("load", run)
    assert result.exit_code == 2
    assert result.stderr == "error: no database given (hint: pass --db URL or set OPS_PIPELINE_DB_URL (e.g. sqlite:///ops.db))\n"


def test_missing_schema_says_how_to_create_it(invoke, make_workbook, tmp_path):
    run = invoke("fetch", make_workbook([good_row()])).stdout.strip()
    invoke("validate", run)
    invoke("transform", run)
    result = invoke("load", run, "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.exit_code == 3
    assert result.stderr == ("error: load: the database has no ops-pipeline schema "
                             "(hint: create it with: ops-pipeline db init --db URL)\n")
    assert RunDir(run).status("load") == "failed"


def test_unreachable_database_is_one_line_and_the_run_records_it(invoke, make_workbook):
    run = invoke("fetch", make_workbook([good_row()])).stdout.strip()
    invoke("validate", run)
    invoke("transform", run)
    result = invoke("load", run, "--db", "postgresql+psycopg://ops:hunter2secret@127.0.0.1:9/ops")
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: load: cannot use the postgresql at 127.0.0.1:")
    assert "hunter2secret" not in result.stderr
    manifest = (Path(run) / "manifest.json").read_text()
    assert "hunter2secret" not in manifest
    assert RunDir(run).stage_info("load")["error"]["code"] == "database"


def test_debug_shows_the_traceback(runs_root, tmp_path):
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "--debug", "fetch", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "\\x0a" not in result.stderr and result.stderr.count("\n") > 3  # lines kept, controls escaped
    quiet = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "fetch", str(tmp_path / "x.xlsx")])
    assert "Traceback" not in quiet.stderr


def test_a_run_can_be_named_by_its_id(invoke, make_workbook, runs_root):
    run = Path(invoke("fetch", make_workbook([good_row()])).stdout.strip())
    assert invoke("validate", run.name).exit_code == 0


def test_db_init_is_idempotent(invoke, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = json.loads(invoke("db", "init", "--db", url, "--json").stdout)
    second = json.loads(invoke("db", "init", "--db", url, "--json").stdout)
    assert first["seeded"] == {"division": 9, "portfolio": 10}  # OPS's reference rows
    assert first["changed"] is True
    assert second["seeded"] == {"division": 0, "portfolio": 0}
    assert second["changed"] is False


def test_text_and_markdown_reports(invoke, make_workbook, sqlite_url):
    book = make_workbook([good_row(budget_id=1, can="G99SRAE (SRAE Disc)"), good_row(budget_id=2, status="x")])
    result = invoke("run", book, "--db", sqlite_url, "--accept-rejects")
    assert result.exit_code == 0
    assert "status: SUCCEEDED" in result.stdout
    assert "unknown-status" in result.stdout and "All Budget - Cur!J3" in result.stdout
    assert "CANs needing a portfolio decision: G99SRAE" in result.stdout
    run = Path(result.stdout.split("Run directory: ")[1].strip())
    md = invoke("report", run, "--format", "md").stdout
    assert md.startswith(f"# ops-pipeline run {run.name}")
    assert "| unknown-status | error | 1 | Status is not one of the known statuses |" in md
    # Each finding's cell with its message and (masked where PII) value, not only the code.
    assert "- `All Budget - Cur!J3`: unknown status (expected OPRE..., PSC..., obligated, in\\_execution, " \
           "planned or draft) (value: `x`)" in md
    assert "- G99SRAE (SRAE Disc)" in md
    assert (run / "report" / "report.md").read_text() == md


def test_stage_events_with_markup_like_text_are_shown_as_text(runs_root, make_workbook):
    # Not -q: the terminal listener renders events with rich; a file name is not markup.
    book = make_workbook([["x"]], header=["Name"], name="[bold]budget.xlsx")
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "run", str(book), "--db", "sqlite:///:memory:"])
    assert result.exit_code == 1
    assert "MarkupError" not in result.stderr
    assert '"file": "[bold]budget.xlsx"' in result.stderr.split("error: validate")[0]
    assert result.stderr.strip().splitlines()[-1].startswith("error: validate: [bold]budget.xlsx: no sheet")


def test_openpyxl_warnings_about_parts_it_drops_reach_stderr_only_with_debug(tmp_path, corpus_dir):
    """An operator sees one line about the file, not openpyxl's notes on extensions it ignores."""
    import subprocess
    import sys

    book = corpus_dir / "poi__simple-monthly-budget.xlsx"

    def validate(*flags):
        base = [sys.executable, "-m", "ops_pipeline", "--runs-root", str(tmp_path / "runs"), *flags]
        run = subprocess.run(base + ["fetch", str(book)], capture_output=True, text=True, check=True).stdout.strip()
        return subprocess.run(base + ["validate", run, "--reader", "openpyxl"], capture_output=True, text=True)

    plain = validate()
    assert plain.returncode == 1
    assert "UserWarning" not in plain.stderr
    assert [line for line in plain.stderr.splitlines() if line.startswith("error:")] == [plain.stderr.splitlines()[-1]]
    assert "UserWarning: Unknown extension" in validate("--debug").stderr


HOSTILE = ["[/x]", "[bold]b[/bold]", "[link=https://evil.example]c[/link]", ":smile:", "\x1b[2J\x1b[31mred",
           "\x1b]8;;https://evil.example\x07link\x1b]8;;\x07", "\u202eabc", "\x9b31m", "a | b ` c <b>"]


def _hostile_book(make_workbook):
    from .test_validate import _xl

    header = list(HEADER) + [_xl(text) for text in HOSTILE]
    rows = [good_row(budget_id=1), good_row(budget_id=2, desc=_xl("\x1b[31mred"), status="[/x]")]
    return make_workbook(rows, header=header, sheet="All Budget - Cur")


@pytest.mark.parametrize("fmt", ["text", "md", "json"])
def test_file_text_is_never_markup_or_an_escape_sequence_in_any_report(invoke, make_workbook, fmt):
    """Header cells (rich markup, ANSI/CSI/OSC sequences, bidi overrides) are shown as text,
    escaped, by report and run, in every format and in the report files."""
    run = invoke("fetch", _hostile_book(make_workbook)).stdout.strip()
    assert invoke("validate", run).exit_code == 1
    result = invoke("report", run, "--format", fmt)
    assert result.exit_code == 0, result.output
    assert "MarkupError" not in result.output
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in result.stdout
        assert raw not in (Path(run) / "report" / "report.md").read_text()
        assert raw not in (Path(run) / "report" / "report.json").read_text()
    data = build_report(RunDir(run))
    assert data["extra_columns"] == ["[/x]", "[bold]b[/bold]", "[link=https://evil.example]c[/link]", ":smile:",
                                     "\\x1b[2J\\x1b[31mred", "\\x1b]8;;https://evil.example\\x07link\\x1b]8;;\\x07",
                                     "\\u202eabc", "\\x9b31m", "a | b ` c <b>"]
    if fmt == "text":
        assert ("Columns ignored: [/x], [bold]b[/bold], [link=https://evil.example]c[/link], :smile:, "
                "\\x1b[2J\\x1b[31mred, \\x1b]8;;https://evil.example\\x07link\\x1b]8;;\\x07, \\u202eabc, \\x9b31m, "
                "a | b ` c <b>\n") in result.stdout
    if fmt == "md":
        assert ("\\[/x\\], \\[bold\\]b\\[/bold\\], \\[link=https://evil.example\\]c\\[/link\\], :smile:, "
                "\\\\x1b\\[2J\\\\x1b\\[31mred, \\\\x1b\\]8;;https://evil.example\\\\x07link\\\\x1b\\]8;;\\\\x07, "
                "\\\\u202eabc, \\\\x9b31m, a \\| b \\` c \\<b\\>\n") in result.stdout


def test_a_file_name_with_escape_sequences_is_shown_escaped_in_errors_and_events(runs_root, tmp_path):
    book = tmp_path / "b\x1b[31m\u202e.xlsx"
    book.write_text("CAN,Amount\n")
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "run", str(book), "--db", "sqlite:///:memory:"])
    assert result.exit_code == 1
    for raw in ("\x1b", "\u202e"):
        assert raw not in result.output
        for events in runs_root.glob("*/logs/events.jsonl"):
            assert raw not in events.read_text()
    assert result.stderr.splitlines()[-1].startswith("error: validate: b")


def test_no_color_means_no_escape_codes_in_stage_events(runs_root, make_workbook):
    """NO_COLOR (no-color.org) even where colour is forced: no dim or bold either."""
    env = {"FORCE_COLOR": "1", "NO_COLOR": "1", "TERM": "xterm-256color"}
    result = CliRunner(env=env).invoke(cli, ["--runs-root", str(runs_root), "fetch", str(make_workbook([good_row()]))])
    assert result.exit_code == 0
    assert "fetch stage-started" in result.stderr
    assert "\x1b" not in result.stderr
    coloured = CliRunner(env={"FORCE_COLOR": "1", "TERM": "xterm-256color"}).invoke(
        cli, ["--runs-root", str(runs_root), "fetch", str(make_workbook([good_row()]))])
    assert "\x1b[" in coloured.stderr  # the check above can fail


def test_the_text_report_is_not_wrapped_in_a_file_and_fits_the_terminal(invoke, make_workbook):
    from ops_pipeline.stages.report import render

    long_header = "A column whose header is a long sentence " * 4
    run = invoke("fetch", make_workbook([good_row(status="bogus")], header=list(HEADER) + [long_header])).stdout.strip()
    invoke("validate", run)
    text = invoke("report", run).stdout
    assert f"Columns ignored: {long_header.strip()}\n" in text  # one line, however long
    narrow = render(build_report(RunDir(run)), "text", width=80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "unknown-status" in narrow and "All Budget - Cur!J2" in narrow


def test_a_nul_cell_is_a_finding_and_never_reaches_the_database(invoke, make_workbook, db_url):
    """PostgreSQL refuses NUL in text: the cell is a finding of validate (exit 1, the data), never
    a load error blaming the database; with --accept-rejects the other rows load."""
    from sqlalchemy import text

    from .test_validate import _xl

    book = make_workbook([good_row(budget_id=1), good_row(budget_id=2, desc=_xl("Year\x001")),
                          good_row(budget_id=3, can=_xl("G994648\x00"), comments=_xl("\x00"))])
    result = invoke("run", book, "--db", db_url, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["findings"] == {"control-character": 2}  # rows
    assert data["findings_detail"]["control-character"]["count"] == 3  # cells
    assert [f["cell"] for f in data["findings_detail"]["control-character"]["first"]] == [
        "All Budget - Cur!F3", "All Budget - Cur!A4", "All Budget - Cur!K4"]
    assert data["stages"]["load"]["status"] == "pending"
    assert result.stderr.splitlines()[-1] == (
        "error: validate rejected 2 rows; nothing is transformed or loaded "
        "(hint: fix the file, or load the valid rows with --accept-rejects)")
    accepted = invoke("run", book, "--db", db_url, "--accept-rejects", "--format", "json")
    assert accepted.exit_code == 0, accepted.stderr
    assert json.loads(accepted.stdout)["entities"]["budget_line_item"]["inserted"] == 1
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("select id from budget_line_item")).scalars().all() == [1]
    engine.dispose()


def test_after_a_failed_rerun_of_transform_load_refuses_the_earlier_transform(invoke, make_workbook, sqlite_url):
    run = invoke("fetch", make_workbook([good_row(budget_id=1), good_row(budget_id=2, status="???")])).stdout.strip()
    assert invoke("validate", run).exit_code == 1
    assert invoke("transform", run, "--accept-rejects").exit_code == 0
    assert invoke("load", run, "--db", sqlite_url).exit_code == 0
    again = invoke("transform", run)
    assert (again.exit_code, again.stderr) == (
        1, "error: validate rejected 1 row; nothing is transformed or loaded (hint: fix the file, or load the "
           "valid rows with --accept-rejects)\n")
    refused = invoke("load", run, "--db", sqlite_url)
    assert (refused.exit_code, refused.stderr) == (
        3, f"error: load: cannot run load: stage transform is failed (hint: ops-pipeline transform {run})\n")
    assert [RunDir(run).status(s) for s in ("transform", "load")] == ["failed", "stale"]


# -- a dry run is a plan, not a load --------------------------------------------------------------

def _loaded(invoke, make_workbook, sqlite_url, rows) -> str:
    run = invoke("fetch", make_workbook(rows)).stdout.strip()
    for stage in ("validate", "transform"):
        assert invoke(stage, run).exit_code == 0
    return run


def test_a_dry_run_after_a_real_load_keeps_its_record_and_status(invoke, make_workbook, sqlite_url):
    run = _loaded(invoke, make_workbook, sqlite_url, [good_row(budget_id=1), good_row(budget_id=2, amount=99)])
    assert invoke("load", run, "--db", sqlite_url).exit_code == 0
    result = Path(run) / "load" / "result.json"
    recorded, loaded = result.read_bytes(), RunDir(run).stage_info("load")
    assert invoke("report", run).exit_code == 0
    before = read_json(Path(run) / "report" / "report.json")

    dry = invoke("load", run, "--db", sqlite_url, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["entities"]["budget_line_item"] == {"inserted": 0, "updated": 0, "unchanged": 2, "skipped": 0, "rejected": 0}
    assert result.read_bytes() == recorded  # the real load's record, byte for byte
    assert RunDir(run).stage_info("load") == loaded  # status, times, outputs: as the real load left them
    plan = read_json(Path(run) / "load" / "plan.json")
    assert plan["entities"]["budget_line_item"] == {"inserted": 0, "updated": 0, "unchanged": 2, "skipped": 0, "rejected": 0}
    assert [e["event"] for e in RunDir(run).events() if e["stage"] == "load"][-1] == "dry-run"

    data = json.loads(invoke("report", run, "--format", "json").stdout)
    assert data["status"] == before["status"] == "succeeded"
    assert data["stages"]["load"] == before["stages"]["load"]
    assert data["entities"] == before["entities"]  # the real load...
    assert data["entities"]["budget_line_item"] == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0, "rejected": 0}
    assert data["load"] == before["load"] and set(data["load"]) == {"seconds"}
    assert data["plan"]["entities"]["budget_line_item"] == {  # ...and, apart, the plan
        "would_insert": 0, "would_update": 0, "would_leave_unchanged": 2}
    assert before["plan"] is None
    text = invoke("report", run).stdout
    assert "Nothing was loaded" not in text and "Dry run at " in text and "would leave unchanged" in text
    markdown = invoke("report", run, "--format", "md").stdout
    assert "## Entities" in markdown and "## Plan" in markdown
    assert "| budget_line_item | 0 | 0 | 2 |" in markdown.split("## Plan")[1]
    assert "| budget_line_item | 2 | 0 | 0 |" in markdown.split("## Plan")[0]


def test_a_dry_run_alone_shows_a_plan_and_says_nothing_was_loaded(invoke, make_workbook, sqlite_url):
    run = _loaded(invoke, make_workbook, sqlite_url, [good_row()])
    assert invoke("load", run, "--db", sqlite_url, "--dry-run").exit_code == 0
    assert not (Path(run) / "load" / "result.json").exists()
    assert RunDir(run).status("load") == "pending"
    data = json.loads(invoke("report", run, "--format", "json").stdout)
    assert (data["status"], data["entities"], data["load"]) == ("dry-run", {}, None)
    assert data["plan"]["entities"]["budget_line_item"]["would_insert"] == 1
    text = invoke("report", run).stdout
    assert "Nothing was loaded. Dry run at " in text and "Entities" not in text
    markdown = invoke("report", run, "--format", "md").stdout
    assert "Nothing was loaded." in markdown and "## Entities" not in markdown
    assert "| budget_line_item | 1 | 0 | 0 |" in markdown

    # The real load that follows is the run's record; the older plan is no longer shown.
    assert invoke("load", run, "--db", sqlite_url).exit_code == 0
    data = json.loads(invoke("report", run, "--format", "json").stdout)
    assert (data["status"], data["plan"]) == ("succeeded", None)


def test_a_failed_dry_run_leaves_the_load_as_it_was(invoke, make_workbook, sqlite_url, tmp_path):
    run = _loaded(invoke, make_workbook, sqlite_url, [good_row()])
    assert invoke("load", run, "--db", sqlite_url).exit_code == 0
    loaded = RunDir(run).stage_info("load")
    missing = f"sqlite:///{tmp_path / 'nowhere' / 'ops.db'}"
    failed = invoke("load", run, "--db", missing, "--dry-run")
    assert failed.exit_code == 3
    assert RunDir(run).stage_info("load") == loaded
    assert RunDir(run).events()[-1]["event"] == "dry-run-failed"
    assert json.loads(invoke("report", run, "--format", "json").stdout)["status"] == "succeeded"


def test_a_plan_made_before_transform_ran_again_is_not_shown(invoke, make_workbook, sqlite_url):
    run = _loaded(invoke, make_workbook, sqlite_url, [good_row()])
    assert invoke("load", run, "--db", sqlite_url, "--dry-run").exit_code == 0
    assert invoke("transform", run).exit_code == 0  # same rows: the plan still describes them
    assert json.loads(invoke("report", run, "--format", "json").stdout)["plan"] is not None
    assert invoke("validate", run).exit_code == 0  # transform is stale now: a plan of what?
    data = json.loads(invoke("report", run, "--format", "json").stdout)
    assert (data["plan"], data["status"]) == (None, "incomplete")


def test_fetch_does_not_import_the_database_layer(make_workbook, runs_root):
    """A fetch in a CI chain costs what copying the file does: SQLAlchemy and OPS's ORM (about a
    second) are imported by the stages that use them, not by every command."""
    import subprocess
    import sys

    book = make_workbook([good_row()])
    probe = ("import sys\nfrom ops_pipeline.cli import cli\n"
             "try:\n    cli.main(['--runs-root', sys.argv[2], '-q', 'fetch', sys.argv[1]], standalone_mode=False)\n"
             "finally:\n    print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy.orm', 'ops_pipeline.db'))))")
    done = subprocess.run([sys.executable, "-c", probe, str(book), str(runs_root)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert len(find_runs(runs_root)) == 1
