"""Steps for polling object storage: a real S3-protocol server (moto in a subprocess) per
scenario, and the library functions the ``poll`` command calls (poll_pass, the ledger)."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from behave import given, then, when
from sqlalchemy import func, select

from ops_pipeline.db.engine import init_schema, make_engine
from ops_pipeline.db.ops_models import BudgetLineItem
from ops_pipeline.ledger import Ledger
from ops_pipeline.poll import PollOptions, poll_pass
from ops_pipeline.rundir import RunDir, find_runs
from ops_pipeline.sample import write_sample_workbook
from ops_pipeline.sources.s3 import make_client

FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true"}
CLEARED_AWS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "VCAP_SERVICES",
               "OPS_PIPELINE_S3_ENDPOINT_URL", "OPS_PIPELINE_S3_SERVICE")


# -- the object store and the database for one scenario -------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_moto(context) -> str:
    """``python -m moto.server`` on a free loopback port, stopped when the scenario ends."""
    port = _free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, **FAKE_AWS})

    def stop():
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        log.close()

    context.add_cleanup(stop)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "moto server exited"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/")
            conn.getresponse()
            conn.close()
            return f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    raise AssertionError("moto server did not start")


def _fake_aws_environment(context) -> None:
    saved = {name: os.environ.get(name) for name in (*FAKE_AWS, *CLEARED_AWS)}

    def restore():
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    context.add_cleanup(restore)
    for name in CLEARED_AWS:
        os.environ.pop(name, None)
    os.environ.update(FAKE_AWS)


def _folder(context) -> Path:
    folder = getattr(context, "tmp", None)
    if folder is None:  # without the project's environment.py
        folder = Path(tempfile.mkdtemp(prefix="ops-polling-"))
        context.add_cleanup(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)


@given("the incoming prefix of an object store bucket")
def step_incoming_prefix(context):
    _fake_aws_environment(context)
    context.poll_tmp = _folder(context)
    context.s3_endpoint = _start_moto(context)
    context.s3 = make_client(context.s3_endpoint, connect_timeout=2, read_timeout=10, max_attempts=2)
    context.bucket = f"budget-uploads-{uuid.uuid4().hex[:12]}"
    context.s3.create_bucket(Bucket=context.bucket)
    context.incoming = f"s3://{context.bucket}/incoming/"
    context.poll_db = f"sqlite:///{context.poll_tmp / 'polling.db'}"
    init_schema(context.poll_db)
    context.poll_max_bytes = 100 * 1024 * 1024
    context.uploaded = {}


def _upload(context, name: str, body: bytes) -> None:
    context.s3.put_object(Bucket=context.bucket, Key=f"incoming/{name}", Body=body)
    context.uploaded[name] = body


# -- uploads --------------------------------------------------------------------------------------


@given('a clean budget workbook "{name}" with {rows:d} rows is uploaded to the incoming prefix')
def step_upload_clean(context, name, rows):
    path = write_sample_workbook(context.poll_tmp / f"upload-{len(context.uploaded)}.xlsx", rows=rows,
                                 seed=len(context.uploaded) + 1, dirty=False)
    _upload(context, name, path.read_bytes())
    context.last_upload = name


@when('the same workbook is uploaded to the incoming prefix again as "{name}"')
def step_upload_again(context, name):
    _upload(context, name, context.uploaded[context.last_upload])


@given('a file "{name}" of {size:d} bytes is uploaded to the incoming prefix')
def step_upload_sized(context, name, size):
    _upload(context, name, os.urandom(size))


@given('a file "{name}" that is not a workbook is uploaded to the incoming prefix')
def step_upload_not_workbook(context, name):
    _upload(context, name, b"meeting notes, not a spreadsheet\n")


@given("the poller refuses files over {limit:d} bytes")
def step_size_limit(context, limit):
    context.poll_max_bytes = limit


# -- polling --------------------------------------------------------------------------------------


def _pass(context):
    options = PollOptions(runs_root=context.poll_tmp / "runs", db_url=context.poll_db,
                          max_bytes=context.poll_max_bytes)
    context.poll_result = poll_pass(context.incoming, options, client=context.s3)
    context.poll_by_name = {r.uri.rsplit("/", 1)[-1]: r for r in context.poll_result.results}


@when("the poller makes one pass over the incoming prefix")
def step_poll_pass(context):
    _pass(context)


@given("the poller has made one pass over the incoming prefix")
def step_poll_pass_done(context):
    _pass(context)
    assert context.poll_result.results, "the first pass processed nothing"


# -- outcomes -------------------------------------------------------------------------------------


@then('the poller reports "{name}" as "{outcome}"')
def step_reported(context, name, outcome):
    result = context.poll_by_name.get(name)
    assert result is not None, f"{name} was not processed: {sorted(context.poll_by_name)}"
    assert result.outcome == outcome, result.line()


@then("the poller finds nothing new under the incoming prefix")
def step_nothing_new(context):
    result = context.poll_result
    assert result.results == [], [r.line() for r in result.results]
    assert result.skipped == len(context.uploaded) and result.exit_code == 0


def _ledger_entry(context, name):
    with Ledger(context.poll_db) as ledger:
        entries = [e for e in ledger.entries(context.incoming) if e.location == context.incoming + name]
    assert len(entries) == 1, entries
    return entries[0]


@then('the ledger records "{name}" as "{outcome}" in the run the poller made for it')
def step_ledger_outcome(context, name, outcome):
    entry = _ledger_entry(context, name)
    result = context.poll_by_name[name]
    assert (entry.outcome, entry.run_id) == (outcome, result.run_id), entry
    assert entry.finished_at is not None and entry.size == len(context.uploaded[name])
    assert (context.poll_tmp / "runs" / entry.run_id / "manifest.json").is_file()


@then('the ledger records "{name}" as "duplicate" of the run that loaded "{original}"')
def step_ledger_duplicate(context, name, original):
    entry, first = _ledger_entry(context, name), _ledger_entry(context, original)
    assert (entry.outcome, entry.run_id, entry.sha256) == ("duplicate", first.run_id, first.sha256), entry
    assert first.outcome == "succeeded"


@then('the report of the run for "{name}" says "{status}"')
def step_report_status(context, name, status):
    run = RunDir(context.poll_by_name[name].run_dir)
    assert run.status("report") == "succeeded"
    assert json.loads((run.path / "report" / "report.json").read_text())["status"] == status


@then("the poller has loaded {count:d} budget lines in all")
def step_budget_lines(context, count):
    engine = make_engine(context.poll_db)
    with engine.connect() as conn:
        loaded = conn.execute(select(func.count()).select_from(BudgetLineItem)).scalar()
    engine.dispose()
    assert loaded == count, loaded


@then("the poller has made {count:d} run directory in all")
@then("the poller has made {count:d} run directories in all")
def step_run_count(context, count):
    runs = find_runs(context.poll_tmp / "runs")
    assert len(runs) == count, [p.name for p in runs]


@then("the poll pass exits with code {code:d}")
def step_exit_code(context, code):
    assert int(context.poll_result.exit_code) == code, context.poll_result.as_dict()
