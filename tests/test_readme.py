"""Every documented example in the README runs: the demo script, the bash examples, the SQL."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from .s3_server import aws_env, moto_server, s3_endpoint  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("OPS_PIPELINE_DB_URL", None)
    env.pop("OPS_PIPELINE_RUNS", None)
    return env


def test_the_readme_documents_the_two_commands():
    assert "scripts/demo.sh" in _blocks("sh")[0]
    assert "scripts/test.sh" in _blocks("sh")[1]
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()


def test_the_demo_loads_the_sample_and_shows_its_rejected_rows(tmp_path):
    result = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh")], cwd=REPO, capture_output=True, text=True,
                            env=_env() | {"OPS_PIPELINE_DEMO_DIR": str(tmp_path)}, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "status: SUCCEEDED" in result.stdout
    assert "Rows: read 305 = valid 294 + rejected 6 + skipped 5" in result.stdout
    assert "bad-amount" in result.stdout
    assert (tmp_path / "ops.db").exists()
    with create_engine(f"sqlite:///{tmp_path / 'ops.db'}").connect() as conn:
        assert conn.execute(text("select count(*) from budget_line_item")).scalar() == 294


def test_the_bash_examples_run_and_the_sql_finds_the_lineage(tmp_path):
    script = _blocks("bash")[0]
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, env=_env(), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "exit 1: the sample has rejected rows" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "succeeded"
    assert report["entities"]["budget_line_item"] == {"inserted": 0, "updated": 0, "unchanged": 294, "skipped": 0, "rejected": 0}
    [query] = _blocks("sql")
    with create_engine(f"sqlite:///{tmp_path / 'ops.db'}").connect() as conn:
        rows = conn.execute(text(query)).all()
    assert rows and rows[0].sheet == "All Budget - Cur"
    assert len(rows) == 2  # loaded by two runs of the same file: both are on record


def test_the_documented_report_keys_are_the_report_keys(tmp_path):
    documented = json.loads(re.sub(r',\s*"\.\.\.":\s*(\{\}|0)', "", _blocks("json")[0]))
    from ops_pipeline.pipeline import run_pipeline
    from ops_pipeline.db.engine import init_schema
    from ops_pipeline.sample import write_sample_workbook

    url = f"sqlite:///{tmp_path / 'ops.db'}"
    init_schema(url)
    loaded = run_pipeline(str(write_sample_workbook(tmp_path / "a.xlsx", rows=50, dirty=False)),
                          runs_root=tmp_path / "runs", db_url=url).report
    assert loaded["status"] == "succeeded"
    assert set(documented) - {"error"} <= set(loaded)
    assert set(loaded["database"]) == set(documented["database"]) == {"dialect", "host", "port", "database"}
    assert loaded["database"]["dialect"] == "sqlite" and loaded["database"]["database"] == str(tmp_path / "ops.db")
    assert set(loaded["load"]) == set(documented["load"]) == {"seconds"}
    assert loaded["load"]["seconds"] >= 0 and loaded["plan"] is None
    planned = run_pipeline(str(write_sample_workbook(tmp_path / "p.xlsx", rows=50, dirty=False)),
                           runs_root=tmp_path / "runs", db_url=url, dry_run=True).report
    assert set(planned["plan"]) == set(documented["plan"])
    for kind, counts in planned["plan"]["entities"].items():
        assert set(counts) == set(documented["plan"]["entities"]["budget_line_item"]), kind
    for kind in documented["entities"]:
        assert set(loaded["entities"][kind]) == set(documented["entities"][kind])
    book = write_sample_workbook(tmp_path / "b.xlsx", rows=50)
    outcome = run_pipeline(str(book), runs_root=tmp_path / "runs", db_url=url)
    assert outcome.report["status"] == "invalid"
    assert set(documented) - {"error"} <= set(outcome.report)
    assert set(documented["entities"]) == {"project", "can", "agreement", "budget_line_item"}
    assert "error" not in outcome.report  # only a failed stage has an error; rejects are "invalid"
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a workbook")
    failed = run_pipeline(str(broken), runs_root=tmp_path / "runs", db_url=url)
    assert failed.report["status"] == "failed"
    assert set(failed.report["error"]) >= {"stage", "code", "message"}


def test_the_object_storage_examples_run_against_an_s3_endpoint(tmp_path, s3_endpoint, aws_env):
    import boto3

    from ops_pipeline.sample import write_sample_workbook

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="ops-budget")
    client.upload_file(str(write_sample_workbook(tmp_path / "a.xlsx", rows=60, seed=1)), "ops-budget",
                       "incoming/budget.xlsx")
    client.upload_file(str(write_sample_workbook(tmp_path / "b.xlsx", rows=60, seed=2)), "ops-budget",
                       "incoming/second.xlsx")
    work = tmp_path / "work"
    work.mkdir()
    script = _blocks("bash")[1]
    env = _env() | {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    env["OPS_PIPELINE_S3_ENDPOINT_URL"] = s3_endpoint
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pass over s3://ops-budget/incoming/: 2 skipped" in result.stderr
    assert (work / "rejects.csv").read_text().count("\n") >= 2
    with create_engine(f"sqlite:///{work / 'ops.db'}").connect() as conn:
        outcomes = dict(conn.execute(text("select location, outcome from ops_pipeline_source_file")).all())
    assert outcomes == {"s3://ops-budget/incoming/budget.xlsx": "succeeded",
                        "s3://ops-budget/incoming/second.xlsx": "succeeded"}


def test_the_webhook_recipe_computes_the_signature_the_sender_puts_on_a_delivery():
    from ops_pipeline.notify import sign_webhook

    section = README.split("### Verifying a webhook", 1)[1]
    recipe = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)
    names = {"timestamp": "1800000000", "delivery": "d-1", "body": b'{"a":1}', "secret": "whsec-canary-0f3e9a2b7c"}
    exec(recipe, {"hmac": __import__("hmac"), "hashlib": __import__("hashlib")}, names)
    # The known answer of tests/test_notify.py, computed with nothing but hmac.
    assert names["expected"] == "sha256=10ed57dd8054930863c23df1d0748e93efde4a863ccc33dac3508894794492e8"
    assert sign_webhook(names["secret"], names["timestamp"], names["body"], names["delivery"]) == names["expected"]
    for header in ("X-OPS-Timestamp", "X-OPS-Delivery", "X-OPS-Signature", "OPS_PIPELINE_WEBHOOK_CA_FILE"):
        assert f"`{header}" in README
