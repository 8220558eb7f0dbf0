"""Secrets never appear in output, logs, the manifest or exception messages -- --debug included.

Database passwords (--db, OPS_PIPELINE_DB_URL, a VCAP_SERVICES aws-rds binding), S3 secret keys
(a VCAP_SERVICES s3 binding, AWS_SECRET_ACCESS_KEY), the SMTP password and the webhook secret
are canaries here; every command that can fail with them is run against a closed port, with and
without --debug, and everything printed and every file written is searched.
"""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops_pipeline.cli import cli
from ops_pipeline.redact import known_secrets, scrub_secrets, url_secrets
from tests.conftest import good_row

DB_PASSWORD = "Db-Canary-Pa55word"
S3_SECRET = "S3CanarySecretKey/abc+XYZ0123456789"
S3_TOKEN = "S3CanarySessionToken0987654321"
SMTP_PASSWORD = "Smtp-Canary-Passw0rd"
WEBHOOK_SECRET = "Webhook-Canary-Secret-42"
ALL_SECRETS = (DB_PASSWORD, S3_SECRET, S3_TOKEN, SMTP_PASSWORD, WEBHOOK_SECRET)
#: Parts of the secrets that must not show either (a secret split by a parser).
FRAGMENTS = ("Canary-Pa55", "CanarySecret", "CanarySession", "Canary-Passw0rd", "Canary-Secret")


@pytest.fixture
def closed_port() -> int:
    """A local TCP port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pg_url(closed_port) -> str:
    return f"postgresql+psycopg://ops_user:{DB_PASSWORD}@127.0.0.1:{closed_port}/ops?connect_timeout=3"


@pytest.fixture
def secret_env(monkeypatch, closed_port):
    """Every kind of secret in the environment, as on cloud.gov."""
    vcap = {
        "aws-rds": [{"name": "ops-db", "credentials": {
            "uri": f"postgres://rds_user:{DB_PASSWORD}@127.0.0.1:{closed_port}/ops", "password": DB_PASSWORD}}],
        "s3": [{"name": "ops-bucket", "credentials": {
            "access_key_id": "AKIACANARY0000000000", "secret_access_key": S3_SECRET, "session_token": S3_TOKEN,
            "region": "us-gov-west-1", "bucket": "ops-budget", "endpoint": f"http://127.0.0.1:{closed_port}"}}],
    }
    monkeypatch.setenv("VCAP_SERVICES", json.dumps(vcap))
    monkeypatch.setenv("OPS_PIPELINE_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("OPS_PIPELINE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("OPS_PIPELINE_S3_ATTEMPTS", "1")
    monkeypatch.delenv("OPS_PIPELINE_DB_URL", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    return vcap


def _leaks(text: str) -> list[str]:
    return [s for s in ALL_SECRETS + FRAGMENTS if s in text]


def _files_leaks(root: Path) -> dict[str, list[str]]:
    found = {}
    if root.exists():
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                leaks = _leaks(path.read_bytes().decode("utf-8", "replace"))
                if leaks:
                    found[str(path.relative_to(root))] = leaks
    return found


def _run(args: list[str], env: dict | None = None):
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return result, result.stdout + result.stderr


@pytest.fixture
def transformed_run(make_workbook, runs_root) -> str:
    from ops_pipeline.stages.fetch import fetch
    from ops_pipeline.stages.transform import transform
    from ops_pipeline.stages.validate import validate

    run = fetch(str(make_workbook([good_row()])), runs_root)
    validate(run)
    transform(run)
    return str(run.path)


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
def test_database_password_never_shown(debug, secret_env, pg_url, runs_root, make_workbook, transformed_run):
    book = str(make_workbook([good_row()]))
    base = ["--runs-root", str(runs_root), *debug]
    commands = {
        "db init --db": (base + ["db", "init", "--db", pg_url], None),
        "load --db": (base + ["load", transformed_run, "--db", pg_url], None),
        "run --db": (base + ["run", book, "--db", pg_url, "--format", "json"], None),
        "load (OPS_PIPELINE_DB_URL)": (base + ["load", transformed_run], {"OPS_PIPELINE_DB_URL": pg_url}),
        "db init (VCAP aws-rds)": (base + ["db", "init"], None),
        "run (VCAP aws-rds)": (base + ["run", book, "--format", "md"], None),
    }
    printed = {}
    for name, (args, env) in commands.items():
        result, out = _run(args, env)
        assert result.exit_code == 3, f"{name}: {out}"
        assert "cannot use the postgresql at 127.0.0.1" in out, f"{name}: {out}"
        if debug:
            assert "Traceback (most recent call last)" in out
        printed[name] = _leaks(out)
    assert {k: v for k, v in printed.items() if v} == {}
    assert _files_leaks(runs_root) == {}


def test_a_password_with_an_unencoded_at_sign_is_refused_before_connecting(runs_root, closed_port):
    """``user:pa@ss@host``: a URL parser splits the password at an "@", making part of it the host
    name -- shown in messages and sent to DNS. The CLI refuses it without echoing the URL."""
    url = f"postgresql+psycopg://ops:{DB_PASSWORD}@x@127.0.0.1:{closed_port}/ops"
    for debug in ([], ["--debug"]):
        result, out = _run(["--runs-root", str(runs_root), *debug, "db", "init", "--db", url])
        assert result.exit_code == 2, out
        assert "percent-encode it as %40" in out
        assert _leaks(out) == [] and "@x@" not in out


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
def test_s3_secret_key_never_shown(debug, secret_env, runs_root):
    result, out = _run(["--runs-root", str(runs_root), *debug, "fetch", "s3://ops-budget/incoming/budget.xlsx"])
    assert result.exit_code != 0, out
    assert "internal error" not in out, out  # an unreachable endpoint is a clear StorageError
    assert _leaks(out) == []
    assert _files_leaks(runs_root) == {}


def test_env_secrets_are_masked_in_messages_tracebacks_and_the_manifest(secret_env, monkeypatch, runs_root,
                                                                       make_workbook):
    """A bug whose exception quotes secrets (here planted on purpose) still shows none of them."""
    from ops_pipeline.datasets.budget_workbook import BudgetWorkbook

    def broken(self, values, state):
        raise RuntimeError(f"boom {SMTP_PASSWORD} {WEBHOOK_SECRET} {S3_SECRET} {DB_PASSWORD}")

    monkeypatch.setattr(BudgetWorkbook, "check_row", broken)
    book = str(make_workbook([good_row()]))
    for debug in ([], ["--debug"]):
        result, out = _run(["--runs-root", str(runs_root), *debug, "run", book, "--db", "sqlite://"])
        assert result.exit_code == 3, out
        assert "internal error" in out or "internal-error" in out
        assert _leaks(out) == [], out
    assert _files_leaks(runs_root) == {}
    manifest = json.loads(next(runs_root.iterdir()).joinpath("manifest.json").read_text())
    assert manifest["stages"]["validate"]["error"]["code"] == "internal-error"


def test_known_secrets_and_scrubbing(secret_env, pg_url):
    secrets = known_secrets(urls=(pg_url,))
    for secret in (DB_PASSWORD, S3_SECRET, S3_TOKEN, SMTP_PASSWORD, WEBHOOK_SECRET):
        assert secret in secrets
    text = f"login as ops_user:{DB_PASSWORD} with {S3_SECRET}; smtp {SMTP_PASSWORD}"
    assert _leaks(scrub_secrets(text, secrets)) == []
    # Percent-encoded passwords are known in both spellings; short values are not "secrets".
    assert {"p@ss/word!", "p%40ss%2Fword!"} <= set(url_secrets("postgresql://u:p%40ss%2Fword!@h/db"))
    assert url_secrets("postgresql://u:pw@h/db") == []
