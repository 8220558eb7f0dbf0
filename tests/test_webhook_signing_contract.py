"""Webhook signing, pinned where mutation testing found it unpinned: a receiver accepts only the
exact timestamp form the sender signs and only a byte body, and the body is ASCII whatever the
report holds. The HMAC itself is recomputed here with hmac/hashlib, not with sign_webhook."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from ops_pipeline.errors import UsageError
from ops_pipeline.notify import notification_from_report, verify_webhook, webhook_body

SECRET = "s3cret-for-tests-only"
NOW = 1_800_000_000


def _headers(timestamp: str, body: bytes, delivery: str = "d-1", secret: str = SECRET) -> dict:
    mac = hmac.new(secret.encode(), f"{timestamp}.{delivery}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-OPS-Timestamp": timestamp, "X-OPS-Signature": f"sha256={mac}", "X-OPS-Delivery": delivery}


@pytest.mark.parametrize("timestamp", ["+1800000000", "1_800_000_000", "1800000000.0", "-1800000000", "0x6B49D200"])
def test_a_timestamp_signed_in_another_form_than_digits_is_refused(timestamp):
    # Each is correctly signed, and most are numbers Python's int() would read: still refused.
    body = b'{"a":1}'
    assert verify_webhook(body, _headers(str(NOW), body), SECRET, now=NOW)
    assert verify_webhook(body, _headers(timestamp, body), SECRET, now=NOW) is False


@pytest.mark.parametrize("body", ['{"a":1}', None, 123, ['{"a":1}']])
def test_only_bytes_are_verified(body):
    headers = _headers(str(NOW), b'{"a":1}')
    assert verify_webhook(b'{"a":1}', headers, SECRET, now=NOW) is True
    assert verify_webhook(bytearray(b'{"a":1}'), headers, SECRET, now=NOW) is True
    assert verify_webhook(body, headers, SECRET, now=NOW) is False


def test_an_empty_secret_says_so():
    body = b'{"a":1}'
    with pytest.raises(UsageError) as caught:
        verify_webhook(body, _headers(str(NOW), body), "", now=NOW)
    assert str(caught.value) == "webhook secret is empty: cannot verify deliveries"


def test_the_body_is_compact_sorted_ascii_json_whatever_the_report_holds():
    report = {"status": "loaded", "run_id": "20261126T202410Z-3f9c1a", "dataset": "budget-workbook",
              "report_path": "/srv/runs/année-2025/report.md", "rows": {"valid": 2, "read": 3}}
    body = webhook_body(report)
    assert body.isascii() and b"\\u00e9" in body and b" " not in body
    assert json.loads(body) == notification_from_report(report)
    assert body == json.dumps(notification_from_report(report), sort_keys=True, separators=(",", ":")).encode()
    assert verify_webhook(body, _headers(str(NOW), body), SECRET, now=NOW)


@pytest.mark.parametrize("delivery", ["dé-1", "d\u2028", "😀"])
def test_a_delivery_id_that_is_not_ascii_is_refused_not_a_crash(delivery):
    body = b'{"a":1}'
    headers = _headers(str(NOW), body)
    headers["X-OPS-Delivery"] = delivery
    assert verify_webhook(body, headers, SECRET, now=NOW) is False
    assert verify_webhook(body, headers, SECRET, now=NOW, seen=set()) is False
