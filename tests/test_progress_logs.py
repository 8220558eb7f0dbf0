"""Progress bars on a terminal only, and --log-format json: stage events as JSON lines on stderr."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops_pipeline import progress, rundir
from ops_pipeline.cli import cli
from ops_pipeline.pipeline import run_pipeline
from ops_pipeline.stages.contained import run_contained
from ops_pipeline.stages.fetch import fetch

from .conftest import good_row
from tests.s3_server import *  # noqa: F401,F403  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
CANARY = "Canary-Pa55word-7f3e"
#: What a rich progress bar leaves in its output: the bar's glyphs and hiding the cursor.
BAR_MARKS = ("━", "\x1b[?25l", "validate: reading")


class Recorder:
    """A progress display that remembers what it was told: [description, total, unit, advanced, stopped]."""

    def __init__(self) -> None:
        self.tasks: list[list] = []

    def start(self, description, total, unit):
        self.tasks.append([description, total, unit, 0, False])
        return len(self.tasks) - 1

    def advance(self, handle, amount):
        self.tasks[handle][3] += amount

    def stop(self, handle):
        self.tasks[handle][4] = True

    def by_name(self) -> dict:
        return {t[0]: tuple(t[1:]) for t in self.tasks}


@pytest.fixture
def recorder():
    shown = Recorder()
    progress.show_with(shown)
    yield shown
    progress.show_with(None)


@pytest.fixture
def listeners_restored():
    saved = list(rundir.EVENT_LISTENERS)
    yield
    rundir.EVENT_LISTENERS[:] = saved


def test_the_stages_report_reading_validating_and_loading(recorder, make_workbook, runs_root, db_url,
                                                          monkeypatch):
    monkeypatch.setattr(progress, "MIN_ROWS", 1)  # three rows stand for a few thousand
    book = make_workbook([good_row(budget_id=15001), good_row(budget_id=15002), good_row(budget_id=15003)])
    outcome = run_pipeline(str(book), runs_root=runs_root, db_url=db_url)
    assert outcome.error is None
    tasks = recorder.by_name()
    # validate reads in a forked child: its rows come back over the relay, counted and closed
    assert tasks["validate: reading the workbook"] == (None, "rows", 0, True)
    assert tasks["validate: rows"][1:] == ("rows", 3, True)
    # a project, a CAN, an agreement and three budget lines
    assert tasks["load: records"] == (6, "records", 6, True)


def test_small_work_shows_no_bar(recorder, make_workbook, runs_root, sqlite_url):
    outcome = run_pipeline(str(make_workbook([good_row()])), runs_root=runs_root, db_url=sqlite_url)
    assert outcome.error is None
    assert "load: records" not in recorder.by_name()
    assert "validate: rows" not in recorder.by_name() or recorder.by_name()["validate: rows"][0] is None


def test_a_forked_childs_progress_is_relayed(recorder):
    def child() -> str:
        with progress.task("work", 10, unit="things") as bar:
            for _ in range(4):
                bar.advance(2.5)
        with progress.task("unsized"):
            pass
        return "done"

    assert run_contained(child, file="x", reader="test") == "done"
    assert recorder.tasks == [["work", 10, "things", 10.0, True], ["unsized", None, "rows", 0, True]]


def test_an_s3_download_reports_its_bytes(recorder, s3_bucket, s3_endpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "MIN_BYTES", 1)
    client, bucket = s3_bucket
    body = os.urandom(200_000)
    client.put_object(Bucket=bucket, Key="in/budget.xlsx", Body=body)
    run = fetch(f"s3://{bucket}/in/budget.xlsx", tmp_path / "runs", endpoint_url=s3_endpoint)
    assert run.status("fetch") == "succeeded"
    assert recorder.by_name()["fetch: downloading"] == (len(body), "bytes", len(body), True)


def test_piped_output_has_no_progress(make_workbook, runs_root, listeners_restored):
    shown_during_validate = []

    def look(event):
        if event["stage"] == "validate" and event["event"] == "stage-started":
            shown_during_validate.append(progress.shown())

    book = make_workbook([good_row()])
    rundir.EVENT_LISTENERS.append(look)
    run = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "fetch", str(book)], catch_exceptions=False)
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "validate", run.stdout.strip()],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert shown_during_validate == [False]
    assert " validate stage-succeeded" in result.stderr  # the events are still shown, as text
    for mark in BAR_MARKS:
        assert mark not in result.stderr


def _on_a_terminal(*args: str) -> tuple[int, str]:
    """Run the CLI in a child process whose stderr is a pseudo-terminal; its exit code and stderr."""
    main, child = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "ops_pipeline", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=child, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_shows_a_progress_bar(make_workbook, runs_root):
    book = make_workbook([good_row()])
    run = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "-q", "fetch", str(book)]).stdout.strip()
    code, stderr = _on_a_terminal("--runs-root", str(runs_root), "validate", run)
    assert code == 0, stderr
    assert all(mark in stderr for mark in BAR_MARKS), stderr
    assert " validate stage-succeeded" in stderr


@pytest.mark.parametrize("flags, bar", [([], True), (["-q"], False), (["--log-format", "json"], False)],
                         ids=["terminal", "quiet", "json"])
def test_no_bar_when_quiet_or_logging_json(flags, bar, make_workbook, runs_root, listeners_restored):
    # FORCE_COLOR makes rich take CliRunner's stderr for a terminal (the real one is tested above)
    book = make_workbook([good_row()])
    run = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "-q", "fetch", str(book)]).stdout.strip()
    shown = []
    rundir.EVENT_LISTENERS.append(lambda event: shown.append(progress.shown()))
    result = CliRunner().invoke(cli, [*flags, "--runs-root", str(runs_root), "validate", run],
                                env={"FORCE_COLOR": "1", "NO_COLOR": None}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert set(shown) == {bar}
    assert not progress.shown()  # the bar was the command's: gone with it
    assert all(mark in result.stderr for mark in BAR_MARKS) if bar else \
        not any(mark in result.stderr for mark in BAR_MARKS)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_log_format_json_writes_stage_events_as_json_lines(make_workbook, runs_root, sqlite_url):
    book = make_workbook([good_row(budget_id=15001), good_row(budget_id=15002)])
    result = CliRunner().invoke(cli, ["--log-format", "json", "--runs-root", str(runs_root), "run", str(book),
                                      "--db", sqlite_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    events = _json_lines(result.stderr)
    [run_id] = {e["run_id"] for e in events}
    assert (runs_root / run_id / "manifest.json").is_file()
    assert [(e["stage"], e["event"]) for e in events if e["event"].startswith("stage-")] == [
        (stage, f"stage-{what}") for stage in rundir.STAGES for what in ("started", "succeeded")]
    validated = next(e for e in events if e["stage"] == "validate" and e["event"] == "stage-succeeded")
    assert validated["counts"] == {"read": 2, "valid": 2, "rejected": 0, "skipped": 0}
    assert validated["level"] == "info" and validated["duration_s"] >= 0 and validated["time"].endswith("Z")
    # the README's example shows the first two lines as they are, field for field
    section = (ROOT / "README.md").read_text().split("### Progress and logs", 1)[1]
    example = section.split("```console\n", 1)[1].split("```", 1)[0].splitlines()
    assert "--log-format json run budget.xlsx" in example[0]
    documented = _json_lines("\n".join(example[1:]))
    assert [list(e) for e in documented] == [list(e) for e in events[:2]]
    assert [(e["stage"], e["event"]) for e in documented] == [(e["stage"], e["event"]) for e in events[:2]]


def test_log_format_json_failure_names_the_error_and_hides_the_password(make_workbook, runs_root, tmp_path,
                                                                        listeners_restored):
    book = make_workbook([good_row()])
    url = f"postgresql+psycopg://loader:{CANARY}@127.0.0.1:1/ops"  # nothing listens on port 1
    result = CliRunner().invoke(cli, ["--runs-root", str(runs_root), "run", str(book), "--db", url],
                                env={"OPS_PIPELINE_LOG_FORMAT": "json", "OPS_PIPELINE_DB_URL": None,
                                     "VCAP_SERVICES": None})
    assert result.exit_code == 3
    assert CANARY not in result.output
    events = _json_lines(result.stderr)
    failed = next(e for e in events if e["event"] == "stage-failed")
    assert failed["stage"] == "load" and failed["level"] == "error" and "duration_s" in failed
    assert failed["error"]["code"] == "database" and "connection failed" in failed["error"]["message"]
    last = events[-1]
    assert last["event"] == "error" and last["exit_code"] == 3 and last["run_id"] == failed["run_id"]
    assert "cannot use the postgresql at 127.0.0.1" in last["error"]["message"]
    assert "\n" not in last["error"]["message"]


def test_a_poll_pass_is_a_json_line_too(s3_bucket, s3_endpoint, sqlite_url, tmp_path, listeners_restored):
    _, bucket = s3_bucket
    result = CliRunner().invoke(cli, ["--log-format", "json", "--runs-root", str(tmp_path / "runs"), "poll",
                                      f"s3://{bucket}/incoming/", "--db", sqlite_url, "--endpoint-url", s3_endpoint,
                                      "--once"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [line] = _json_lines(result.stderr)
    assert (line["event"], line["level"], line["source"]) == ("poll-pass", "info", f"s3://{bucket}/incoming/")
    assert set(line["counts"].values()) == {0}


def test_a_json_line_stays_json_whatever_its_text_holds(monkeypatch, capsys):
    from ops_pipeline import cli as cli_module

    secret = 'quo"te\\Secret-9f2a'  # a quote and a backslash: JSON escapes them
    monkeypatch.setenv("OPS_PIPELINE_SMTP_PASSWORD", secret)
    cli_module._json_log_line(None, {"event": "x", "message": f"sheet \x1b[31m\x85\u202e: {secret}",
                                     "who": "jane.doe@example.gov"})
    [line] = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record == {"event": "x", "message": "sheet \\x1b[31m\\x85\\u202e: ***", "who": "<email>"}
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in line)
