"""Tests of ops_pipeline.notify against real local SMTP and HTTP(S) servers."""
from __future__ import annotations

import copy
import email
import email.policy
import hashlib
import hmac
import json
import ssl
import time
import uuid
from urllib.parse import urlsplit

import pytest

from ops_pipeline import notify as notify_module
from ops_pipeline.errors import NotifyError, UsageError
from ops_pipeline.notify import (
    EmailSettings,
    WebhookSettings,
    notification_from_report,
    notify,
    parse_notify_targets,
    render_text,
    send_email,
    send_webhook,
    settings_from_env,
    sign_webhook,
    verify_webhook,
)
from tests.notify_servers import (  # noqa: F401 - fixtures
    SMTP_PASSWORD,
    WEBHOOK_SECRET,
    expected_signature,
    ca_file,
    free_port,
    _start_smtp,
    post_raw,
    server_tls_context,
    smtp_plain_server,
    smtp_starttls_server,
    smtp_tls_server,
    tls_ca,
    untrusted_ca_file,
    webhook_receiver,
    webhook_receiver_http,
)

RUN_ID = "20261126T202410Z-3f9c1a"
REPORT_PATH = "/srv/ops/runs/20261126T202410Z-3f9c1a/report/report.json"


def sample_report() -> dict:
    return {
        "run_id": RUN_ID,
        "status": "succeeded",
        "dataset": "budget-workbook",
        "source": {"path": "budget.xlsx", "uri": "s3://bucket/incoming/budget.xlsx", "sha256": "ab" * 32},
        "rows": {"read": 300, "valid": 290, "rejected": 6, "skipped": 4},
        "findings": {"bad-amount": 2, "unknown-status": 4},
        "findings_detail": [
            {"code": "bad-amount", "cell": "All Budget - Cur!H14", "value": "$ 234,1552,303.08",
             "message": "not an amount"},
        ],
        "rejected_rows": [{"row": 14, "values": {"H": "$ 234,1552,303.08"}}],
        "entities": {
            "project": {"inserted": 1, "updated": 0, "unchanged": 0},
            "can": {"inserted": 3, "updated": 1, "unchanged": 2},
            "agreement": {"inserted": 2, "updated": 0, "unchanged": 0},
            "budget_line_item": {"inserted": 280, "updated": 6, "unchanged": 4},
        },
        "cans_without_portfolio": ["G99XXX1"],
        "stages": {
            "fetch": {"status": "succeeded", "seconds": 0.1},
            "validate": {"status": "succeeded", "seconds": 1.2},
            "load": {"status": "succeeded", "seconds": 2.5},
        },
        "report_path": REPORT_PATH,
        "error": {"message": "nothing went wrong"},
    }


EXPECTED = {
    "run_id": RUN_ID,
    "status": "succeeded",
    "dataset": "budget-workbook",
    "rows": {"read": 300, "valid": 290, "rejected": 6, "skipped": 4},
    "entities": {
        "project": {"inserted": 1, "updated": 0, "unchanged": 0},
        "can": {"inserted": 3, "updated": 1, "unchanged": 2},
        "agreement": {"inserted": 2, "updated": 0, "unchanged": 0},
        "budget_line_item": {"inserted": 280, "updated": 6, "unchanged": 4},
    },
    "findings": {"bad-amount": 2, "unknown-status": 4},
    "cans_without_portfolio": 1,
    "stages": {
        "fetch": {"status": "succeeded"},
        "validate": {"status": "succeeded"},
        "load": {"status": "succeeded"},
    },
    "report_path": REPORT_PATH,
}

CANARIES = [
    "canary.person@example.gov",
    "Jane Canaryname",
    "123-45-6789",
    "CANARY-COMMENT do not forward this remark",
    "G99XXX1",
    "canary-cell-value-998877",
    "canary-error-text",
    "canary-path-segment",
    "202-555-0143",
]


def pii_report() -> dict:
    report = sample_report()
    report["source"] = {
        "path": "/home/Jane Canaryname/canary-path-segment/budget.xlsx",
        "uri": "s3://bucket/canary.person@example.gov/budget.xlsx",
    }
    report["findings_detail"] = [
        {"code": "bad-amount", "cell": "All Budget - Cur!H14", "value": "canary-cell-value-998877",
         "message": "Jane Canaryname wrote CANARY-COMMENT do not forward this remark"},
        {"code": "bad-ssn", "cell": "Contacts!B2", "value": "123-45-6789",
         "message": "contact canary.person@example.gov"},
    ]
    report["rejected_rows"] = [
        {"row": 7, "values": {"owner": "Jane Canaryname", "email": "canary.person@example.gov",
                              "ssn": "123-45-6789", "comment": "CANARY-COMMENT do not forward this remark"}},
    ]
    report["error"] = {"code": "data-invalid",
                       "message": "canary-error-text: bad value 123-45-6789 from canary.person@example.gov"}
    # Hostile keys where codes and names go: not slugs, so dropped.
    report["findings"]["Jane Canaryname"] = 1
    report["findings"]["canary.person@example.gov"] = 2
    report["entities"]["123-45-6789"] = {"inserted": 1}  # a valid slug, but an SSN
    report["findings"]["202-555-0143"] = 1  # a valid code, but a phone number
    report["stages"]["canary-path-segment stage"] = {"status": "succeeded"}
    report["stages"]["fetch"]["note"] = "CANARY-COMMENT do not forward this remark"
    report["stages"]["fetch"]["status"] = "Jane Canaryname"  # not a status slug -> "unknown"
    report["dataset_owner"] = "Jane Canaryname"
    report["comments"] = ["CANARY-COMMENT do not forward this remark"]
    return report


def assert_no_canary(text: str, where: str) -> None:
    leaked = [c for c in CANARIES if c.lower() in text.lower()]
    assert not leaked, f"{where} leaks {leaked}"


def email_settings(server, **overrides) -> EmailSettings:
    values = dict(
        host=server.host,
        port=server.port,
        username=server.user,
        password=server.password,
        sender="ops-pipeline@example.org",
        recipients=["budget-team@example.org", "ops@example.org"],
        security="tls" if server.security == "tls" else "starttls",
        timeout=5,
        ca_file=server.ca_file,
    )
    values.update(overrides)
    return EmailSettings(**values)


def webhook_settings(receiver, **overrides) -> WebhookSettings:
    values = dict(
        url=receiver.url,
        secret=WEBHOOK_SECRET,
        timeout=5,
        ca_file=receiver.ca_file,
        allow_http_loopback=receiver.url.startswith("http:"),
        backoff=0.01,
    )
    values.update(overrides)
    return WebhookSettings(**values)


def parse_mail(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


# ------------------------------------------------------------------------------------------
# The notification
# ------------------------------------------------------------------------------------------


def test_notification_is_the_whitelist_of_the_report():
    assert notification_from_report(sample_report()) == EXPECTED


def test_notification_is_idempotent_and_json_serialisable():
    once = notification_from_report(sample_report())
    assert notification_from_report(once) == once
    assert json.loads(json.dumps(once)) == once


def test_notification_does_not_modify_the_report():
    report = sample_report()
    before = copy.deepcopy(report)
    notification_from_report(report)
    assert report == before


def test_counts_are_coerced_and_bad_codes_dropped():
    report = {
        "run_id": "run-1",
        "status": "failed",
        "rows": {"read": "12", "valid": 3.0, "rejected": -1, "skipped": True, "extra": 5},
        "findings": {
            "bad-amount": "7",
            "Bad-Amount": 1,  # upper case
            "x" * 65: 1,  # too long
            "a@b": 1,
            "bad amount": 1,
            "ok-code": "many",  # not a count
            "half": 1.5,
        },
        "entities": {"project": {"inserted": "4", "updated": None, "note": "x"}, "Bad Name": {}},
        "cans_without_portfolio": ["A", "B", "C"],
        "stages": {"fetch": {"status": "FAILED!"}, "load": "not a mapping"},
        "error": {"code": "database", "message": "password=hunter2 for alice@example.gov"},
        "report_uri": "s3://user:hunter2@bucket/runs/run-1/report.json?token=abc",
    }
    n = notification_from_report(report)
    assert n["rows"] == {"read": 12, "valid": 3}
    assert n["findings"] == {"bad-amount": 7}
    assert n["entities"] == {"project": {"inserted": 4}}
    assert n["cans_without_portfolio"] == 3
    assert n["stages"] == {"fetch": {"status": "unknown"}}
    assert n["error"] == {"code": "database"}
    assert n["report_uri"] == "s3://user:***@bucket/runs/run-1/report.json?token=***"
    assert "hunter2" not in json.dumps(n)
    assert "alice" not in json.dumps(n)


def test_error_code_only_and_invalid_values_dropped():
    n = notification_from_report({
        "run_id": "bad run id with spaces",
        "status": "Succeeded ",
        "dataset": "budget workbook",
        "error": {"code": "Not A Code", "message": "x"},
        "report_path": "/tmp/x\nBcc: evil@example.com",
    })
    assert n == {"run_id": None, "status": "unknown"}


def test_non_mapping_report_gives_an_empty_notification():
    assert notification_from_report(None) == {"run_id": None, "status": "unknown"}  # type: ignore[arg-type]


def test_render_text_subject_and_body():
    subject, body = render_text(notification_from_report(sample_report()))
    assert subject == f"ops-pipeline run {RUN_ID}: succeeded"
    lines = body.splitlines()
    assert lines[0] == f"ops-pipeline run {RUN_ID}"
    assert "Status:  succeeded" in lines
    assert "Dataset: budget-workbook" in lines
    assert "Rows: read 300, valid 290, rejected 6, skipped 4" in lines
    assert "  budget_line_item: inserted 280, updated 6, unchanged 4" in lines
    assert "  bad-amount: 2" in lines
    assert "  unknown-status: 4" in lines
    assert "CANs without a portfolio: 1" in lines
    assert "  load: succeeded" in lines
    assert f"Full report: {REPORT_PATH}" in lines
    assert not any(line.startswith("Error:") for line in lines)


def test_render_text_of_a_failed_run_shows_the_error_code():
    subject, body = render_text({"run_id": "r-2", "status": "failed", "error": {"code": "database",
                                                                               "message": "secret"}})
    assert subject == "ops-pipeline run r-2: failed"
    assert "Error:   database" in body.splitlines()
    assert "secret" not in body


def test_render_text_whitelists_even_a_raw_report():
    subject, body = render_text(pii_report())
    assert_no_canary(subject + "\n" + body, "render_text(raw report)")


# ------------------------------------------------------------------------------------------
# PII: nothing planted in the report reaches any output
# ------------------------------------------------------------------------------------------


def test_pii_canaries_reach_no_output(smtp_starttls_server, webhook_receiver):
    report = pii_report()
    # The canaries are really in the report (so finding none below means something).
    report_text = json.dumps(report)
    assert all(c in report_text for c in CANARIES)

    n = notification_from_report(report)
    assert_no_canary(json.dumps(n), "notification")
    assert n["findings"] == {"bad-amount": 2, "unknown-status": 4}
    assert n["error"] == {"code": "data-invalid"}
    assert n["cans_without_portfolio"] == 1
    assert n["stages"]["fetch"] == {"status": "unknown"}

    subject, body = render_text(n)
    assert_no_canary(subject + body, "rendered text")

    outcomes = notify(report, [email_settings(smtp_starttls_server), webhook_settings(webhook_receiver)])
    assert outcomes == [{"channel": "email", "ok": True}, {"channel": "webhook", "ok": True}]

    (mail,) = smtp_starttls_server.messages
    assert_no_canary(mail.raw.decode("utf-8", "replace"), "raw e-mail")
    assert_no_canary(parse_mail(mail.raw).get_content(), "decoded e-mail body")
    assert RUN_ID in parse_mail(mail.raw).get_content()

    (delivery,) = webhook_receiver.deliveries
    assert delivery.accepted
    assert_no_canary(delivery.body.decode(), "webhook body")
    assert_no_canary(json.dumps(delivery.headers), "webhook headers")
    assert json.loads(delivery.body) == n


# ------------------------------------------------------------------------------------------
# E-mail
# ------------------------------------------------------------------------------------------


def test_email_over_starttls_with_login(smtp_starttls_server):
    send_email(notification_from_report(sample_report()), email_settings(smtp_starttls_server))
    (mail,) = smtp_starttls_server.messages
    assert mail.tls and mail.authenticated and mail.login == "ops-notify"
    assert mail.mail_from == "ops-pipeline@example.org"
    assert mail.rcpt_tos == ["budget-team@example.org", "ops@example.org"]
    message = parse_mail(mail.raw)
    assert message["Subject"] == f"ops-pipeline run {RUN_ID}: succeeded"
    assert message["From"] == "ops-pipeline@example.org"
    assert message["To"] == "budget-team@example.org, ops@example.org"
    assert message.get_content().replace("\r\n", "\n") == render_text(EXPECTED)[1]
    assert smtp_starttls_server.auth_attempts == [{"login": "ops-notify", "ok": True, "tls": True}]


def test_email_over_implicit_tls(smtp_tls_server):
    send_email(EXPECTED, email_settings(smtp_tls_server))
    (mail,) = smtp_tls_server.messages
    assert mail.tls and mail.authenticated
    assert parse_mail(mail.raw)["Subject"] == f"ops-pipeline run {RUN_ID}: succeeded"


def test_email_refused_when_server_offers_no_starttls(smtp_plain_server):
    with pytest.raises(NotifyError) as caught:
        send_email(EXPECTED, email_settings(smtp_plain_server))
    assert "does not offer STARTTLS" in str(caught.value)
    assert "refusing" in str(caught.value)
    assert smtp_plain_server.messages == []
    assert smtp_plain_server.auth_attempts == []  # the password never went over the wire


def test_email_wrong_password_is_a_clear_error_without_the_password(smtp_starttls_server):
    wrong = "Wr0ng-canary-Passw0rd"
    with pytest.raises(NotifyError) as caught:
        send_email(EXPECTED, email_settings(smtp_starttls_server, password=wrong))
    error = caught.value
    text = " ".join([str(error), error.one_line(), repr(error), repr(error.args), str(error.__cause__)])
    assert wrong not in text
    assert SMTP_PASSWORD not in text
    assert "rejected the login" in str(error)
    assert "535" in str(error)
    assert "\n" not in error.one_line()
    assert error.__cause__ is None and error.__suppress_context__
    assert smtp_starttls_server.messages == []
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN): all failed, all over TLS.
    attempts = smtp_starttls_server.auth_attempts
    assert attempts and all(a == {"login": "ops-notify", "ok": False, "tls": True} for a in attempts)


def test_email_untrusted_certificate_is_refused_before_login(smtp_starttls_server, untrusted_ca_file):
    with pytest.raises(NotifyError) as caught:
        send_email(EXPECTED, email_settings(smtp_starttls_server, ca_file=untrusted_ca_file))
    assert "certificate" in str(caught.value)
    assert "not trusted" in str(caught.value)
    assert smtp_starttls_server.messages == []
    assert smtp_starttls_server.auth_attempts == []


def test_email_implicit_tls_untrusted_certificate(smtp_tls_server, untrusted_ca_file):
    with pytest.raises(NotifyError, match="not trusted"):
        send_email(EXPECTED, email_settings(smtp_tls_server, ca_file=untrusted_ca_file))
    assert smtp_tls_server.messages == []


def test_email_hostname_must_match_certificate(tls_ca, ca_file):
    # A certificate from the trusted CA, but for another name: refused before login.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("mail.example.org").configure_cert(context)
    server, controller = _start_smtp("starttls", context, ca_file)
    try:
        with pytest.raises(NotifyError) as caught:
            send_email(EXPECTED, email_settings(server))
    finally:
        controller.stop()
    assert "not trusted" in str(caught.value)
    assert "mismatch" in str(caught.value).lower()
    assert server.messages == [] and server.auth_attempts == []


@pytest.mark.parametrize("missing", ["username", "password"])
def test_email_refuses_to_send_unauthenticated(smtp_starttls_server, missing):
    with pytest.raises(NotifyError, match="refusing to send unauthenticated"):
        send_email(EXPECTED, email_settings(smtp_starttls_server, **{missing: None}))
    assert smtp_starttls_server.messages == []


def test_email_connection_refused_is_one_line():
    port = free_port()
    settings = EmailSettings(host="127.0.0.1", port=port, username="u", password="p-canary-123",
                             sender="a@example.org", recipients=["b@example.org"], timeout=2)
    with pytest.raises(NotifyError) as caught:
        send_email(EXPECTED, settings)
    assert str(caught.value) == f"e-mail: cannot connect to SMTP server 127.0.0.1:{port}: Connection refused"
    assert "p-canary-123" not in caught.value.one_line()


@pytest.mark.parametrize("field_name,value", [
    ("security", "none"), ("sender", "not an address"), ("recipients", []),
    ("recipients", ["ok@example.org", "evil@example.org\r\nBcc: x@example.org"]),
])
def test_email_bad_settings_refused(smtp_starttls_server, field_name, value):
    with pytest.raises(NotifyError):
        send_email(EXPECTED, email_settings(smtp_starttls_server, **{field_name: value}))
    assert smtp_starttls_server.messages == []


def test_tls_context_requires_tls12_and_verification(ca_file):
    context = notify_module._ssl_context(ca_file)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_secrets_not_in_settings_repr():
    e = EmailSettings(host="h", port=587, username="u", password="pw-canary-42", sender="a@b.org",
                      recipients=["c@d.org"])
    w = WebhookSettings(url="https://example.org/hook", secret="whsec-canary-42")
    assert "pw-canary-42" not in repr(e) and "pw-canary-42" not in str(e)
    assert "whsec-canary-42" not in repr(w) and "whsec-canary-42" not in str(w)
    assert "username='u'" in repr(e)  # repr still useful


# ------------------------------------------------------------------------------------------
# Webhook: sending
# ------------------------------------------------------------------------------------------


def test_webhook_https_delivery_is_signed(webhook_receiver):
    before = int(time.time())
    send_webhook(notification_from_report(sample_report()), webhook_settings(webhook_receiver))
    (delivery,) = webhook_receiver.deliveries
    assert delivery.accepted and delivery.status == 204
    assert delivery.path == "/hooks/ops"
    assert delivery.body == json.dumps(EXPECTED, sort_keys=True, separators=(",", ":")).encode()
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    assert headers["content-type"] == "application/json"
    timestamp = headers["x-ops-timestamp"]
    assert before <= int(timestamp) <= int(time.time())
    # Recomputed here from the documented string, not by the signing code under test.
    signed = f"{timestamp}.{headers['x-ops-delivery']}.".encode("ascii") + delivery.body
    expected_sig = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["x-ops-signature"] == expected_sig
    assert uuid.UUID(headers["x-ops-delivery"]).version == 4


def test_two_identical_notifications_in_the_same_second_are_both_accepted(webhook_receiver, monkeypatch):
    """Two runs of the same file can end within a second: neither is a replay of the other."""
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.5)  # the receiver's clock too
    for _ in range(2):
        send_webhook(notification_from_report(sample_report()), webhook_settings(webhook_receiver))
    first, second = webhook_receiver.deliveries
    assert first.body == second.body
    assert [first.accepted, second.accepted] == [True, True]


def test_webhook_http_loopback_only_when_allowed(webhook_receiver_http):
    send_webhook(EXPECTED, webhook_settings(webhook_receiver_http))
    assert [d.accepted for d in webhook_receiver_http.deliveries] == [True]
    with pytest.raises(NotifyError, match="only https:// URLs"):
        send_webhook(EXPECTED, webhook_settings(webhook_receiver_http, allow_http_loopback=False))
    assert len(webhook_receiver_http.deliveries) == 1


@pytest.mark.parametrize("url", [
    "http://example.org/hook",
    "http://10.0.0.1/hook",
    "ftp://127.0.0.1/hook",
    "file:///etc/passwd",
    "https://user:pw@example.org/hook",
    "not a url",
])
def test_webhook_refuses_unsafe_urls(url):
    with pytest.raises(NotifyError) as caught:
        send_webhook(EXPECTED, WebhookSettings(url=url, secret="s-canary", allow_http_loopback=True,
                                               attempts=1, timeout=1))
    assert "s-canary" not in str(caught.value)
    assert ":pw@" not in str(caught.value)


def test_webhook_requires_a_secret(webhook_receiver):
    with pytest.raises(NotifyError, match="unsigned"):
        send_webhook(EXPECTED, webhook_settings(webhook_receiver, secret=""))
    assert webhook_receiver.deliveries == []


def test_webhook_wrong_secret_is_rejected_by_receiver(webhook_receiver):
    with pytest.raises(NotifyError) as caught:
        send_webhook(EXPECTED, webhook_settings(webhook_receiver, secret="not-the-secret-canary"))
    assert "HTTP 401" in str(caught.value)
    assert "not-the-secret-canary" not in str(caught.value)
    assert "/hooks/ops" not in str(caught.value)  # paths can carry tokens
    assert [d.accepted for d in webhook_receiver.deliveries] == [False]  # 4xx: not retried


def test_webhook_untrusted_certificate(webhook_receiver, untrusted_ca_file):
    with pytest.raises(NotifyError, match="not trusted"):
        send_webhook(EXPECTED, webhook_settings(webhook_receiver, ca_file=untrusted_ca_file))
    assert webhook_receiver.deliveries == []


def test_webhook_retries_5xx_with_the_same_delivery(webhook_receiver):
    webhook_receiver.forced_statuses = [503, 502]
    send_webhook(EXPECTED, webhook_settings(webhook_receiver))
    assert [d.status for d in webhook_receiver.deliveries] == [503, 502, 204]
    ids = {d.headers["X-Ops-Delivery"] for d in webhook_receiver.deliveries}
    assert len(ids) == 1


def test_webhook_gives_up_after_three_attempts(webhook_receiver):
    webhook_receiver.forced_statuses = [500, 500, 500, 500]
    with pytest.raises(NotifyError) as caught:
        send_webhook(EXPECTED, webhook_settings(webhook_receiver))
    assert str(caught.value) == (
        f"webhook: https://127.0.0.1:{urlsplit(webhook_receiver.url).port} failed: "
        "HTTP 500 (after 3 attempts)"
    )
    assert len(webhook_receiver.deliveries) == 3


def test_webhook_redirect_is_not_followed(webhook_receiver):
    webhook_receiver.forced_statuses = [302]
    with pytest.raises(NotifyError, match="HTTP 302"):
        send_webhook(EXPECTED, webhook_settings(webhook_receiver))
    assert len(webhook_receiver.deliveries) == 1


def test_webhook_connection_refused_is_retried_then_reported(monkeypatch):
    sleeps = []
    monkeypatch.setattr(notify_module, "_sleep", sleeps.append)
    port = free_port()
    settings = WebhookSettings(url=f"http://127.0.0.1:{port}/h", secret="s-canary-9",
                               allow_http_loopback=True, backoff=0.25)
    with pytest.raises(NotifyError) as caught:
        send_webhook(EXPECTED, settings)
    assert str(caught.value) == (
        f"webhook: http://127.0.0.1:{port} failed: Connection refused (after 3 attempts)"
    )
    assert sleeps == [0.25, 0.5]


# ------------------------------------------------------------------------------------------
# Webhook: receiving (verify_webhook through the real receiver, then unit cases)
# ------------------------------------------------------------------------------------------


def _one_accepted_delivery(receiver):
    send_webhook(EXPECTED, webhook_settings(receiver))
    (delivery,) = receiver.deliveries
    assert delivery.accepted
    headers = {k: v for k, v in delivery.headers.items()
               if k.lower() in ("content-type", "x-ops-timestamp", "x-ops-signature", "x-ops-delivery")}
    return delivery.body, headers


def test_receiver_rejects_tampered_body(webhook_receiver):
    body, headers = _one_accepted_delivery(webhook_receiver)
    headers["X-Ops-Delivery"] = str(uuid.uuid4())
    tampered = body.replace(b'"bad-amount":2', b'"bad-amount":0')
    assert tampered != body
    status = post_raw(webhook_receiver.url, tampered, headers, webhook_receiver.ca_file)
    assert status == 401
    assert [d.accepted for d in webhook_receiver.deliveries] == [True, False]


def test_receiver_rejects_wrong_secret_signature(webhook_receiver):
    body, headers = _one_accepted_delivery(webhook_receiver)
    headers["X-Ops-Delivery"] = str(uuid.uuid4())
    headers["X-Ops-Signature"] = expected_signature("some-other-secret", headers["X-Ops-Timestamp"],
                                                    headers["X-Ops-Delivery"], body)
    assert post_raw(webhook_receiver.url, body, headers, webhook_receiver.ca_file) == 401
    assert webhook_receiver.deliveries[-1].accepted is False


def test_receiver_rejects_old_timestamp(webhook_receiver):
    body = b'{"run_id":"r","status":"succeeded"}'
    old = str(int(time.time()) - 3600)
    headers = {"Content-Type": "application/json", "X-OPS-Timestamp": old,
               "X-OPS-Delivery": str(uuid.uuid4())}
    headers["X-OPS-Signature"] = expected_signature(WEBHOOK_SECRET, old, headers["X-OPS-Delivery"], body)  # correct
    assert post_raw(webhook_receiver.url, body, headers, webhook_receiver.ca_file) == 401
    fresh = str(int(time.time()))
    headers.update({"X-OPS-Timestamp": fresh,
                    "X-OPS-Signature": expected_signature(WEBHOOK_SECRET, fresh, headers["X-OPS-Delivery"], body)})
    assert post_raw(webhook_receiver.url, body, headers, webhook_receiver.ca_file) == 204
    assert [d.accepted for d in webhook_receiver.deliveries] == [False, True]


def test_receiver_rejects_repeated_delivery(webhook_receiver):
    body, headers = _one_accepted_delivery(webhook_receiver)
    # The exact same request again (a replay within the tolerance window).
    assert post_raw(webhook_receiver.url, body, headers, webhook_receiver.ca_file) == 401
    # The same signed request under a fresh delivery id is a replay too.
    headers["X-Ops-Delivery"] = str(uuid.uuid4())
    assert post_raw(webhook_receiver.url, body, headers, webhook_receiver.ca_file) == 401
    assert [d.accepted for d in webhook_receiver.deliveries] == [True, False, False]


def _signed(secret=WEBHOOK_SECRET, timestamp=1_800_000_000, body=b'{"a":1}', delivery="d-1"):
    """A delivery signed as the README says, independently of ops_pipeline.notify."""
    return body, {"X-OPS-Timestamp": str(timestamp),
                  "X-OPS-Signature": expected_signature(secret, str(timestamp), delivery, body),
                  "X-OPS-Delivery": delivery}


def test_the_signature_is_hmac_sha256_over_timestamp_dot_delivery_dot_body():
    """A known answer, computed once with nothing but hmac and the README:
    hmac.new(b"whsec-canary-0f3e9a2b7c", b'1800000000.d-1.{"a":1}', sha256).hexdigest()."""
    known = "sha256=10ed57dd8054930863c23df1d0748e93efde4a863ccc33dac3508894794492e8"
    assert sign_webhook(WEBHOOK_SECRET, "1800000000", b'{"a":1}', "d-1") == known
    assert sign_webhook(WEBHOOK_SECRET, 1_800_000_000, b'{"a":1}', "d-1") == known
    assert expected_signature(WEBHOOK_SECRET, "1800000000", "d-1", b'{"a":1}') == known
    headers = {"X-OPS-Timestamp": "1800000000", "X-OPS-Delivery": "d-1", "X-OPS-Signature": known}
    assert verify_webhook(b'{"a":1}', headers, WEBHOOK_SECRET, now=1_800_000_000)
    # Each part in its place: the same parts in another order or joined otherwise do not verify.
    for signed in (b'd-1.1800000000.{"a":1}', b'1800000000.d-1{"a":1}', b'1800000000d-1.{"a":1}',
                   b'{"a":1}.1800000000.d-1', b'1800000000.{"a":1}'):
        other = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert not verify_webhook(b'{"a":1}', {**headers, "X-OPS-Signature": other}, WEBHOOK_SECRET,
                                  now=1_800_000_000)


def test_verify_webhook_tolerance_both_directions():
    body, headers = _signed(timestamp=1_800_000_000)
    assert verify_webhook(body, headers, WEBHOOK_SECRET, now=1_800_000_300)
    assert verify_webhook(body, headers, WEBHOOK_SECRET, now=1_799_999_700)
    assert not verify_webhook(body, headers, WEBHOOK_SECRET, now=1_800_000_301)
    assert not verify_webhook(body, headers, WEBHOOK_SECRET, now=1_799_999_699)  # from the future
    assert verify_webhook(body, headers, WEBHOOK_SECRET, now=1_800_000_900, tolerance_seconds=900)


def test_verify_webhook_headers_are_case_insensitive():
    body, headers = _signed()
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify_webhook(body, lowered, WEBHOOK_SECRET, now=1_800_000_000)


@pytest.mark.parametrize("mutate", [
    lambda h: h.pop("X-OPS-Signature"),
    lambda h: h.pop("X-OPS-Timestamp"),
    lambda h: h.__setitem__("X-OPS-Signature", h["X-OPS-Signature"].upper()),
    lambda h: h.__setitem__("X-OPS-Signature", h["X-OPS-Signature"][7:]),  # no "sha256="
    lambda h: h.__setitem__("X-OPS-Signature", "sha1=" + "0" * 40),
    lambda h: h.__setitem__("X-OPS-Timestamp", "1800000000.0"),
    lambda h: h.__setitem__("X-OPS-Timestamp", "1800000001"),  # signature is for another time
])
def test_verify_webhook_rejects_malformed_headers(mutate):
    body, headers = _signed()
    mutate(headers)
    assert not verify_webhook(body, headers, WEBHOOK_SECRET, now=1_800_000_000)


def test_verify_webhook_seen_set():
    seen: set = set()
    body, headers = _signed(delivery="d-1")
    bad_body = body + b" "
    assert not verify_webhook(bad_body, headers, WEBHOOK_SECRET, now=1_800_000_000, seen=seen)
    assert seen == set()  # a forged request does not burn the delivery id
    assert verify_webhook(body, headers, WEBHOOK_SECRET, now=1_800_000_000, seen=seen)
    assert not verify_webhook(body, headers, WEBHOOK_SECRET, now=1_800_000_000, seen=seen)
    # A different, genuinely signed delivery that reuses the id is rejected too.
    body2, headers2 = _signed(body=b'{"a":2}', delivery="d-1")
    assert not verify_webhook(body2, headers2, WEBHOOK_SECRET, now=1_800_000_000, seen=seen)
    # With no delivery id, a seen set cannot protect: rejected.
    body3, headers3 = _signed(body=b'{"a":3}', delivery="")
    assert not verify_webhook(body3, headers3, WEBHOOK_SECRET, now=1_800_000_000, seen=seen)
    # Without a seen set, replays are only bounded by the timestamp.
    assert verify_webhook(body, headers, WEBHOOK_SECRET, now=1_800_000_000)


def test_verify_webhook_empty_secret_is_a_usage_error():
    body, headers = _signed()
    with pytest.raises(UsageError):
        verify_webhook(body, headers, "", now=1_800_000_000)


def test_verify_webhook_uses_compare_digest(monkeypatch):
    calls = []
    real = notify_module.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(notify_module.hmac, "compare_digest", spy)
    body, headers = _signed()
    assert verify_webhook(body, headers, WEBHOOK_SECRET, now=1_800_000_000)
    assert len(calls) == 1


# ------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------

FULL_ENV = {
    "OPS_PIPELINE_SMTP_HOST": "smtp.example.org",
    "OPS_PIPELINE_SMTP_USER": "ops",
    "OPS_PIPELINE_SMTP_PASSWORD": "env-pw-canary",
    "OPS_PIPELINE_SMTP_FROM": "ops@example.org",
    "OPS_PIPELINE_SMTP_TO": " a@example.org, b@example.org ,,",
    "OPS_PIPELINE_WEBHOOK_URL": "https://hooks.example.org/ops",
    "OPS_PIPELINE_WEBHOOK_SECRET": "env-whsec-canary",
    "OPS_PIPELINE_WEBHOOK_CA_FILE": "/etc/ssl/hooks-ca.pem",
}


def test_settings_from_env_full():
    email_s, webhook_s = settings_from_env(FULL_ENV)
    assert email_s == EmailSettings(
        host="smtp.example.org", port=587, username="ops", password="env-pw-canary",
        sender="ops@example.org", recipients=["a@example.org", "b@example.org"],
        security="starttls", timeout=30, ca_file=None, verify=True,
    )
    assert webhook_s == WebhookSettings(url="https://hooks.example.org/ops", secret="env-whsec-canary",
                                        ca_file="/etc/ssl/hooks-ca.pem")


def test_settings_from_env_ports_and_security():
    env = dict(FULL_ENV, OPS_PIPELINE_SMTP_SECURITY="TLS")
    assert settings_from_env(env)[0].port == 465
    assert settings_from_env(env)[0].security == "tls"
    env["OPS_PIPELINE_SMTP_PORT"] = "2465"
    env["OPS_PIPELINE_SMTP_CA_FILE"] = "/ca.pem"
    assert settings_from_env(env)[0].port == 2465
    assert settings_from_env(env)[0].ca_file == "/ca.pem"


def test_settings_from_env_empty():
    assert settings_from_env({}) == (None, None)
    assert settings_from_env({"OPS_PIPELINE_SMTP_HOST": "  "}) == (None, None)


@pytest.mark.parametrize("key,value,match", [
    ("OPS_PIPELINE_SMTP_PORT", "smtp", "SMTP_PORT"),
    ("OPS_PIPELINE_SMTP_PORT", "70000", "SMTP_PORT"),
    ("OPS_PIPELINE_SMTP_SECURITY", "plain", "SMTP_SECURITY"),
])
def test_settings_from_env_malformed(key, value, match):
    with pytest.raises(UsageError, match=match):
        settings_from_env(dict(FULL_ENV, **{key: value}))


def test_parse_notify_targets():
    assert parse_notify_targets([], FULL_ENV) == []
    assert parse_notify_targets(None, FULL_ENV) == []
    targets = parse_notify_targets(["email,webhook"], FULL_ENV)
    assert [type(t) for t in targets] == [EmailSettings, WebhookSettings]
    assert targets == list(settings_from_env(FULL_ENV))
    assert [type(t) for t in parse_notify_targets(["webhook", " Email ", "webhook"], FULL_ENV)] == [
        WebhookSettings, EmailSettings]


@pytest.mark.parametrize("channel,unset,named", [
    ("email", "OPS_PIPELINE_SMTP_PASSWORD", "OPS_PIPELINE_SMTP_PASSWORD"),
    ("email", "OPS_PIPELINE_SMTP_HOST", "OPS_PIPELINE_SMTP_HOST"),
    ("email", "OPS_PIPELINE_SMTP_TO", "OPS_PIPELINE_SMTP_TO"),
    ("webhook", "OPS_PIPELINE_WEBHOOK_SECRET", "OPS_PIPELINE_WEBHOOK_SECRET"),
    ("webhook", "OPS_PIPELINE_WEBHOOK_URL", "OPS_PIPELINE_WEBHOOK_URL"),
])
def test_parse_notify_targets_names_the_missing_variable(channel, unset, named):
    env = {k: v for k, v in FULL_ENV.items() if k != unset}
    with pytest.raises(UsageError) as caught:
        parse_notify_targets([channel], env)
    assert named in str(caught.value)
    assert caught.value.exit_code == 2
    assert "canary" not in caught.value.one_line()


def test_parse_notify_targets_unconfigured_channel_is_not_needed():
    env = {k: v for k, v in FULL_ENV.items() if "SMTP" not in k}
    assert [type(t) for t in parse_notify_targets(["webhook"], env)] == [WebhookSettings]


def test_parse_notify_targets_rejects_unknown_channel_and_http_url():
    with pytest.raises(UsageError, match="unknown channel 'slack'"):
        parse_notify_targets(["email,slack"], FULL_ENV)
    env = dict(FULL_ENV, OPS_PIPELINE_WEBHOOK_URL="http://hooks.example.org/ops")
    with pytest.raises(UsageError, match="https://"):
        parse_notify_targets(["webhook"], env)
    env = dict(FULL_ENV, OPS_PIPELINE_SMTP_TO=" , ")
    with pytest.raises(UsageError, match="SMTP_TO"):
        parse_notify_targets(["email"], env)


# ------------------------------------------------------------------------------------------
# notify(): one record per channel, failures isolated, no secrets in errors
# ------------------------------------------------------------------------------------------


def test_notify_reports_each_channel(smtp_starttls_server, webhook_receiver):
    good_email = email_settings(smtp_starttls_server)
    bad_hook = webhook_settings(webhook_receiver, secret="bad-secret-canary-55")
    outcomes = notify(sample_report(), [bad_hook, good_email])
    assert outcomes[1] == {"channel": "email", "ok": True}
    assert outcomes[0]["channel"] == "webhook" and outcomes[0]["ok"] is False
    assert "HTTP 401" in outcomes[0]["error"]
    assert "bad-secret-canary-55" not in json.dumps(outcomes)
    assert len(smtp_starttls_server.messages) == 1


def test_notify_email_failure_record_has_no_password(smtp_starttls_server):
    settings = email_settings(smtp_starttls_server, password="nope-canary-pw")
    (outcome,) = notify(sample_report(), [settings])
    assert outcome["channel"] == "email" and outcome["ok"] is False
    assert "rejected the login" in outcome["error"]
    assert "nope-canary-pw" not in outcome["error"]


def test_notify_unexpected_error_is_contained_and_scrubbed(monkeypatch):
    def boom(notification, settings):
        raise RuntimeError(f"exploded with {settings.secret}")

    monkeypatch.setattr(notify_module, "send_webhook", boom)
    settings = WebhookSettings(url="https://example.org/h", secret="boom-canary-secret")
    (outcome,) = notify(sample_report(), [settings])
    assert outcome["ok"] is False
    assert "RuntimeError" in outcome["error"]
    assert "boom-canary-secret" not in outcome["error"]


def test_error_messages_scrub_secrets_even_base64():
    settings = EmailSettings(host="h", port=1, username="u", password="pw-xyz", sender="a@b.org",
                             recipients=["c@d.org"])
    import base64

    error = notify_module._fail(f"server said pw-xyz and {base64.b64encode(b'pw-xyz').decode()}",
                                settings)
    assert "pw-xyz" not in str(error)
    assert base64.b64encode(b"pw-xyz").decode() not in str(error)
    assert str(error) == "server said *** and ***"
