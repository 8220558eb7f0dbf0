"""cloud.gov deployment: manifest.yml parses and is a worker app with both service bindings, and
its start command (and the one-off task's) runs against the test S3 server and PostgreSQL with
VCAP_SERVICES shaped as cloud.gov sets it, and nothing else to find them by."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from sqlalchemy.engine import make_url

from ops_pipeline.heartbeat import heartbeat_id
from ops_pipeline.sample import write_sample_workbook
from tests.s3_server import *  # noqa: F401,F403  (fixtures)

REPO = Path(__file__).resolve().parents[1]
VARS = yaml.safe_load((REPO / "deploy" / "vars.example.yml").read_text())


def manifest(values: dict) -> dict:
    """manifest.yml with its ((variables)) replaced, as `cf push --vars-file` does."""
    text = (REPO / "manifest.yml").read_text()
    missing = set(re.findall(r"\(\(([a-z0-9_]+)\)\)", text)) - set(values)
    assert not missing, f"manifest variables without a value: {missing}"
    return yaml.safe_load(re.sub(r"\(\(([a-z0-9_]+)\)\)", lambda m: str(values[m.group(1)]), text))


def test_the_manifest_is_a_worker_with_a_database_and_a_bucket():
    (app,) = manifest(VARS)["applications"]
    assert app["no-route"] is True and app["health-check-type"] == "process"
    assert app["services"] == [VARS["db_service"], VARS["s3_service"]]
    assert app["buildpacks"] == ["python_buildpack"] and app["instances"] == 1
    assert re.search(r"python -m ops_pipeline poll s3://\S+/incoming/ --every 5m\b", app["command"])
    assert app["env"]["OPS_PIPELINE_ARCHIVE"] == f"s3://{VARS['bucket']}/audit/"
    # The buildpack installs requirements.txt: the lock, nothing else.
    assert (REPO / "requirements.txt").read_text().strip().endswith("-r requirements.lock")


def vcap_services(pg_url: str, bucket: str, endpoint: str) -> str:
    """VCAP_SERVICES as cloud.gov sets it for an aws-rds and an s3 binding (the s3 endpoint is the
    test server; on cloud.gov it is s3-fips.us-gov-west-1.amazonaws.com)."""
    url = make_url(pg_url)
    password = url.password
    rds_uri = f"postgres://{url.username}:{quote(password, safe='')}@{url.host}:{url.port}/{url.database}"
    return json.dumps({
        "aws-rds": [{
            "label": "aws-rds", "provider": None, "plan": "micro-psql", "name": "ops-db",
            "tags": ["database", "RDS"], "instance_guid": "1b9a5a4e-0000-0000-0000-000000000001",
            "instance_name": "ops-db", "binding_guid": "2c0b6b5f-0000-0000-0000-000000000002",
            "binding_name": None, "syslog_drain_url": None, "volume_mounts": [],
            "credentials": {"db_name": url.database, "host": url.host, "name": url.database,
                            "password": password, "port": str(url.port), "uri": rds_uri,
                            "username": url.username},
        }],
        "s3": [{
            "label": "s3", "provider": None, "plan": "basic", "name": "ops-files",
            "tags": ["AWS", "S3", "object-storage"], "instance_guid": "3d1c7c60-0000-0000-0000-000000000003",
            "instance_name": "ops-files", "binding_guid": "4e2d8d71-0000-0000-0000-000000000004",
            "binding_name": None, "syslog_drain_url": None, "volume_mounts": [],
            "credentials": {"access_key_id": "testing", "secret_access_key": "testing",
                            "region": "us-gov-west-1", "bucket": bucket, "fips_endpoint": endpoint,
                            "uri": f"s3://testing:testing@{bucket}.s3-fips.us-gov-west-1.amazonaws.com",
                            "additional_buckets": []},
        }],
    })


def app_env(tmp_path: Path, app: dict, vcap: str) -> dict:
    """The app's environment on cloud.gov: the manifest's env and VCAP_SERVICES, no AWS_* keys."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "OPS_PIPELINE_", "VCAP_")) or k in ("AWS_EC2_METADATA_DISABLED",
                                                                             "AWS_CONFIG_FILE",
                                                                             "AWS_SHARED_CREDENTIALS_FILE")}
    env.update({k: str(v) for k, v in app["env"].items()})
    env.update({"VCAP_SERVICES": vcap, "OPS_PIPELINE_RUNS": str(tmp_path / "runs"),
                "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"})
    return env


@pytest.mark.postgres
def test_the_start_command_and_a_task_run_on_vcap_services_alone(s3_bucket, s3_endpoint, ops_pg_url, tmp_path):
    pg_url = ops_pg_url  # OPS's tables are there before the app starts; db init never makes them
    client, bucket = s3_bucket
    (app,) = manifest({**VARS, "bucket": bucket})["applications"]
    env = app_env(tmp_path, app, vcap_services(pg_url, bucket, s3_endpoint))
    book = write_sample_workbook(tmp_path / "fy25.xlsx", rows=40, seed=5, dirty=False)
    client.put_object(Bucket=bucket, Key="incoming/fy25.xlsx", Body=book.read_bytes())
    beat_key = f"audit/heartbeat/{heartbeat_id(f's3://{bucket}/incoming/')}.json"

    poller = subprocess.Popen(["bash", "-c", app["command"]], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix=beat_key):
            assert poller.poll() is None, poller.communicate()
            assert time.monotonic() < deadline, "the poller wrote no heartbeat"
            time.sleep(0.2)
        poller.send_signal(signal.SIGTERM)  # what cf stop / a restart sends
        out, err = poller.communicate(timeout=60)
    finally:
        if poller.poll() is None:
            poller.kill()
            poller.communicate()
    assert poller.returncode == 0, err
    assert out.startswith(f"succeeded   s3://{bucket}/incoming/fy25.xlsx run ")
    assert "stopped on SIGTERM" in err
    run_id = out.split(" run ", 1)[1].split()[0]
    assert "Contents" in client.list_objects_v2(Bucket=bucket, Prefix=f"audit/runs/{run_id}/manifest.json")
    assert "testing" not in err

    status = subprocess.run([sys.executable, "-m", "ops_pipeline", "status"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"ok    s3://{bucket}/incoming/: last pass ")
    assert "every 300s); 1 processed, 0 failed; oldest waiting none" in status.stdout

    # The one-off task, as deploy/run-task.example.sh starts it, on the same droplet and bindings.
    script = (REPO / "deploy" / "run-task.example.sh").read_text()
    task = re.search(r'--command "([^"]+)"', script).group(1)
    client.put_object(Bucket=bucket, Key="manual/fy26.xlsx",
                      Body=write_sample_workbook(tmp_path / "fy26.xlsx", rows=30, seed=6, dirty=False).read_bytes())
    done = subprocess.run(["bash", "-c", task.replace("$SOURCE", f"s3://{bucket}/manual/fy26.xlsx")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# ops-pipeline run ") and "**Status:** succeeded" in done.stdout
    task_run = done.stdout.split()[3]
    assert f"archived run {task_run} to s3://{bucket}/audit/runs/{task_run}/" in done.stderr
