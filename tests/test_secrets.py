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


# -- malformed URLs: credentials recognised by shape, not by a parser ------------------------------

#: Ways to mistype a database URL with the canary password in it.
MALFORMED_URLS = {
    "one slash": f"postgresql+psycopg:/ops:{DB_PASSWORD}@dbhost:5432/ops",
    "no colon": f"postgresql+psycopg//ops:{DB_PASSWORD}@dbhost:5432/ops",
    "no scheme": f"ops:{DB_PASSWORD}@dbhost:5432/ops",
    "scheme without slashes": f"postgresql:ops:{DB_PASSWORD}@dbhost:5432/ops",
    "unknown scheme": f"postgress://ops:{DB_PASSWORD}@dbhost:5432/ops",
    "query password": f"postgresql+psycopg:/dbhost/ops?user=ops&password={DB_PASSWORD}",
    "pwd option": f"postgresql+psycopg:/dbhost/ops?pwd={DB_PASSWORD}",
    "libpq keywords": f"host=dbhost user=ops password={DB_PASSWORD} dbname=ops",
    "percent-encoded": "postgresql+psycopg:/ops:" + DB_PASSWORD.replace("-", "%2D") + "@dbhost:5432/ops",
    # Well formed, so it gets past the option check and into the run's files before it fails.
    "unreachable": f"postgresql://ops:{DB_PASSWORD}@127.0.0.1:1/ops",
}


@pytest.mark.parametrize("url", MALFORMED_URLS.values(), ids=MALFORMED_URLS.keys())
def test_a_malformed_database_url_never_shows_its_password(url, runs_root, make_workbook):
    """A typo in the URL must not turn its password into text we print: the message, the
    --debug traceback, the manifest, the event log and the report are searched."""
    book = str(make_workbook([good_row()]))
    for debug in ([], ["--debug"]):
        for args, env in ((["db", "init", "--db", url], None),
                          (["run", book, "--db", url, "--format", "md"], None),
                          (["run", book, "--format", "json"], {"OPS_PIPELINE_DB_URL": url})):
            result, out = _run(["--runs-root", str(runs_root), *debug, *args], env)
            assert result.exit_code in (2, 3), out
            assert _leaks(out) == [] and "Pa55word" not in out and "Pa55word".replace("5", "%35") not in out, out
    # A URL that is no URL is refused before any run starts; one that is, fails in the run.
    assert _files_leaks(runs_root) == {}
    if url == MALFORMED_URLS["unreachable"]:
        assert any(runs_root.glob("*/manifest.json"))  # the runs got as far as writing their manifests


def test_a_malformed_vcap_database_uri_never_shows_its_password(monkeypatch, runs_root):
    uri = f"postgres:/rds_user:{DB_PASSWORD}@dbhost:5432/ops"
    monkeypatch.setenv("VCAP_SERVICES", json.dumps({"aws-rds": [{"credentials": {"uri": uri}}]}))
    monkeypatch.delenv("OPS_PIPELINE_DB_URL", raising=False)
    for debug in ([], ["--debug"]):
        result, out = _run(["--runs-root", str(runs_root), *debug, "db", "init"])
        assert result.exit_code in (2, 3), out
        assert _leaks(out) == [], out


@pytest.mark.parametrize("text, shown", [
    ("postgresql+psycopg:/user:secret@host/ops", "postgresql+psycopg:/user:***@host/ops"),
    ("postgresql+psycopg//user:secret@host/ops", "postgresql+psycopg//user:***@host/ops"),
    ("user:secret@host/ops", "user:***@host/ops"),
    ("postgresql://user:se@cr@et@host/ops", "postgresql://user:***@host/ops"),
    ("not a database URL: 'u:secret@h/db'", "not a database URL: 'u:***@h/db'"),
    ("postgresql://u@h/db?sslmode=require&password=secret", "postgresql://u@h/db?sslmode=require&password=***"),
    ("host=h password='se cret' dbname=ops", "host=h password=*** dbname=ops"),
    ("s3://b/k?X-Amz-Signature=abc123&X-Amz-Credential=AKIA", "s3://b/k?X-Amz-Signature=***&X-Amz-Credential=***"),
    ('{"password": "secret", "user": "ops"}', '{"password": "***", "user": "ops"}'),
    ("sqlite:///ops.db", "sqlite:///ops.db"),
])
def test_credentials_are_recognised_by_their_shape(text, shown):
    from ops_pipeline.redact import redact_url, scrub_text

    assert scrub_text(text) == shown
    if " " not in text:  # a URL with a space is masked to its last "@" (a password may hold one)
        assert redact_url(text) == shown


def test_a_url_without_a_password_is_shown_whole():
    from ops_pipeline.redact import redact_url

    for url in ("postgresql+psycopg://ops@db.example:5432/ops", "postgresql+psycopg://[::1]:5432/ops",
                "sqlite:////var/lib/ops/ops.db", "postgresql+psycopg://ops@dbhost:5432/ops?sslmode=require"):
        assert redact_url(url) == url


@pytest.mark.parametrize("url", MALFORMED_URLS.values(), ids=MALFORMED_URLS.keys())
def test_a_configured_url_s_password_is_masked_as_a_literal_anywhere(url):
    """A driver may quote the password alone (no "@", no "password="): the URL's secrets are
    masked by value too, decoded and encoded."""
    secrets = known_secrets(env={"DATABASE_URL": url})
    for text in (f"auth failed for {DB_PASSWORD}", f"bad byte in {DB_PASSWORD.replace('-', '%2D')}"):
        assert _leaks(scrub_secrets(text, secrets)) == [], text


def test_secret_looking_environment_variables_are_known(monkeypatch):
    env = {"MY_SERVICE_API_TOKEN": "tok-" + DB_PASSWORD, "REPLICA_DSN": f"postgresql://u:{DB_PASSWORD}@h/db",
           "HOME": "/home/ops-canary", "PWD": "/srv/ops-canary/work", "OLDPWD": "/srv/ops-canary/old",
           "MONKEY_TOKENS_DIR": "/srv/ops-canary/tokens"}
    secrets = known_secrets(env=env)
    assert "tok-" + DB_PASSWORD in secrets and DB_PASSWORD in secrets
    assert [s for s in secrets if "ops-canary" in s] == []


def test_one_scrubber_serves_notify_s3_and_the_database():
    """The three places that masked secrets their own way now call redact.scrub_secrets."""
    import inspect

    from ops_pipeline import notify
    from ops_pipeline.db import engine
    from ops_pipeline.sources import s3

    assert not hasattr(s3, "_scrub") and not hasattr(engine, "_secrets")
    assert "scrub_secrets(" in inspect.getsource(notify._scrub_secrets)
    assert "scrub_secrets(" in inspect.getsource(engine.connection_error)


def test_vcap_services_is_read_in_one_place():
    import pathlib

    import ops_pipeline

    readers = [p.name for p in pathlib.Path(ops_pipeline.__file__).parent.rglob("*.py")
               if 'get("VCAP_SERVICES")' in p.read_text() or "json.loads(vcap" in p.read_text()
               or '_env("VCAP_SERVICES")' in p.read_text()]
    assert readers == []


def test_scrubbing_stays_linear_on_adversarial_text():
    """No pattern backtracks on 100 KB of crafted text (this would take minutes if one did)."""
    from ops_pipeline.redact import redact_url, scrub_text, url_secrets

    n = 100_000
    for text in ("a" * n, "1" * n, "a@" * (n // 2), "a:" * (n // 2) + "@", "/a:" * (n // 3), "x:y@" * (n // 4),
                 "+1 " * (n // 3), "+1(1)" * (n // 5), "123-" * (n // 4), "1 " * (n // 2), "a=" * (n // 2),
                 '"password": "' * (n // 13), "a@" + "a." * (n // 2), "a='" * (n // 3)):
        assert len(scrub_text(text)) > 0 and redact_url(text) and url_secrets(text) is not None


def test_a_secret_that_is_not_valid_utf8_is_masked_without_an_error():
    """An environment variable holding bytes that are not UTF-8 reaches Python with lone
    surrogates in it (os.environ decodes with surrogateescape); scrubbing it must not raise, or
    the error message it was protecting would be lost along with it."""
    secret = b"Pa55\xffword-canary".decode("utf-8", "surrogateescape")
    secrets = known_secrets(env={"OPS_PIPELINE_SMTP_PASSWORD": secret})
    assert secret in secrets
    assert scrub_secrets(f"login failed for {secret}", secrets) == "login failed for ***"


# -- the rules of the two scrubbers, one at a time (mutation testing found them unpinned) ---------

@pytest.mark.parametrize("text, shown", [
    ("password= user=ops", "password= user=ops"),                      # blank values stay blank
    ("password='' user=ops", "password='' user=ops"),
    ('password="" user=ops', 'password="" user=ops'),
    ('{"password": "", "user": "ops"}', '{"password": "", "user": "ops"}'),
    ('{"token": "a"}', '{"token": "***"}'),                            # one character is a value
    ("{'password': 'se-cret'}", "{'password': '***'}"),                # a Python repr: single quotes only
    ("postgresql://u:se-cret\uff20host/db", "postgresql://u:***\uff20host/db"),   # full-width at sign
    ("postgresql://u:se\uff20cret\uff20host/db", "postgresql://u:***\uff20host/db"),  # ...the last one
    ("postgresql://u:pa:ss-word@h/db", "postgresql://u:***@h/db"),    # the password from the first colon
    (":se-cret@host", ":***@host"),                                    # no user name
    ("connecting to ops@db:5432/ops", "connecting to ops@db:5432/ops"),  # a port is not a password
])
def test_the_edges_of_credentials_recognised_by_their_shape(text, shown):
    from ops_pipeline.redact import redact_url, scrub_text

    assert scrub_text(text) == shown
    assert redact_url(text) == shown


def test_a_url_with_a_space_in_its_password_is_masked_to_its_last_at_sign():
    from ops_pipeline.redact import redact_url

    assert redact_url("postgresql://u:se cret@x@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize("url, found", [
    ("postgresql://ops_user:Pa55-word@h/db", ["ops_user:Pa55-word", "Pa55-word"]),
    ("postgresql+psycopg//ops_user:Pa55-word@h/db", ["ops_user:Pa55-word", "Pa55-word"]),   # no colon
    ("jdbc//postgresql//ops_user:Pa55-word@h/db", ["ops_user:Pa55-word", "Pa55-word"]),
    ("postgresql://ops_user:Pa//55-word@h/db", ["ops_user:Pa//55-word", "Pa//55-word"]),
    ("postgresql://u:pass word:xy@h/db", ["u:pass word:xy", "pass word:xy", "word:xy"]),   # and each word
    ("host=h password='Xe Pa55-word' dbname=ops", ["Xe Pa55-word"]),
    ("postgresql://u:Pa55-word@h/db?sslpassword=Key-Pa55", ["u:Pa55-word", "Pa55-word", "Key-Pa55"]),
    ("postgresql://u:Pa55wd@h/db", ["u:Pa55wd", "Pa55wd"]),                                 # 6 characters
    ("postgresql://u:Pa5wd@h/db", ["u:Pa5wd"]),                                             # 5: too short
])
def test_the_secrets_of_a_url_are_its_user_info_its_password_and_its_password_options(url, found):
    assert url_secrets(url) == found


def test_known_secrets_come_from_every_source_longest_first(monkeypatch):
    import ops_pipeline.redact as redact

    monkeypatch.setattr(redact, "_remembered", set())
    monkeypatch.delenv("VCAP_SERVICES", raising=False)
    vcap = {"aws-rds": [{"credentials": {"uri": "postgres://rds:Vcap-Pa55@h/ops", "port": "5432"}}]}
    env = {"EMPTY_TOKEN": "", "OPS_PIPELINE_SMTP_PASSWORD": "zz-pwd", "MY_API_TOKEN": "aaaa-api-token",
           "VCAP_SERVICES": json.dumps(vcap)}
    redact.remember_url("postgresql://u:Remembered-Pa55@h/db")
    secrets = known_secrets(env=env, urls=["postgresql://u:Given-Pa55@h/db"])
    assert sorted(secrets) == sorted([
        "zz-pwd", "aaaa-api-token",                                      # secret variables, 6 characters or more
        "postgres://rds:Vcap-Pa55@h/ops", "rds:Vcap-Pa55", "Vcap-Pa55",  # VCAP_SERVICES, its URI's parts
        "u:Remembered-Pa55", "Remembered-Pa55", "u:Given-Pa55", "Given-Pa55"])
    # longest first, so that a secret holding another is replaced whole
    assert [len(s) for s in secrets] == sorted(map(len, secrets), reverse=True)


def test_secrets_are_masked_longest_first_in_every_form_and_never_when_too_short(monkeypatch):
    from ops_pipeline.redact import scrub_secrets

    # "Zz-secret" sorts after "Aa-Zz-secret" but is inside it: the longer one goes first
    assert scrub_secrets("login Aa-Zz-secret", ["Zz-secret", "Aa-Zz-secret"]) == "login ***"
    assert scrub_secrets("key S3Key%2Fabc%2BXYZ", ["S3Key/abc+XYZ"]) == "key ***"   # percent-encoded, "/" too
    assert scrub_secrets("the abc of it", ["abc"]) == "the abc of it"             # shorter than 6
    assert scrub_secrets("the abc of it", ["abc"], min_chars=3) == "the *** of it"
    assert scrub_secrets("pw Pa55wd", ["Pa55wd"]) == "pw ***"                     # exactly 6
    monkeypatch.setenv("OPS_PIPELINE_WEBHOOK_SECRET", "Known-Canary-Secret")
    assert scrub_secrets("pw Known-Canary-Secret") == "pw ***"                   # default: the known ones
