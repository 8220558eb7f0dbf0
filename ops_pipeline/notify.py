"""Run notifications: a minimal summary of a run report, sent by e-mail and/or a signed webhook.

A run report can hold cell values, names, e-mail addresses and comments. A notification never
does: :func:`notification_from_report` builds it by *whitelist* -- it copies only known keys,
coerces counts to ``int`` and drops finding codes, entity and stage names that are not short
slugs. Everything that sends (``render_text``, ``send_email``, ``send_webhook``, ``notify``) passes
its input through that whitelist again, so handing them a full report by mistake leaks nothing.

Transport rules:

* E-mail is sent only over TLS (STARTTLS on a server that advertises it, or implicit TLS) with a
  verifying TLS context (TLS 1.2 minimum) and only after a successful login. There is no
  fallback to plain text and no unauthenticated sending.
* A webhook is POSTed only to an ``https://`` URL (plain ``http://`` only to a loopback host and
  only when ``allow_http_loopback`` is set, for tests). Redirects are not followed. The body is
  signed: ``X-OPS-Signature: sha256=HMAC_SHA256(secret, f"{timestamp}.{delivery_id}." + body)``.
  :func:`verify_webhook` is the receiving side.

Secrets (the SMTP password, the webhook secret) never appear in ``repr`` of the settings nor in
any error message.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Callable, Union
from urllib.parse import urlsplit

from .errors import NotifyError, UsageError
from .redact import redact_url, scrub_secrets, scrub_text

__all__ = [
    "EmailSettings",
    "WebhookSettings",
    "notification_from_report",
    "render_text",
    "send_email",
    "send_webhook",
    "sign_webhook",
    "verify_webhook",
    "settings_from_env",
    "parse_notify_targets",
    "notify",
    "CHANNELS",
    "ENV_PREFIX",
]

# --------------------------------------------------------------------------------------------
# The notification (whitelist)
# --------------------------------------------------------------------------------------------

#: Finding codes, statuses, dataset names, error codes.
CODE_RE = re.compile(r"^[a-z0-9-]{1,64}$")
#: Entity and stage names (``budget_line_item`` has an underscore).
NAME_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
#: Run ids look like ``20261126T202410Z-3f9c1a``.
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

ROW_COUNT_KEYS = ("read", "valid", "rejected", "skipped")
ENTITY_COUNT_KEYS = ("inserted", "updated", "unchanged", "deleted")
MAX_ITEMS = 200  # findings / entities / stages kept in one notification
MAX_LOCATION_CHARS = 1024


def _count(value: Any) -> int | None:
    """A non-negative int, or None when ``value`` is not a count."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            return None
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        number = int(value.strip())
    else:
        return None
    return number if number >= 0 else None


def _slug(value: Any, pattern: re.Pattern = CODE_RE) -> str | None:
    """``value`` if it is a short slug that does not look like PII (``123-45-6789`` is a valid
    slug but also an SSN; a phone number written with dashes is one too)."""
    if isinstance(value, str) and pattern.match(value) and scrub_text(value) == value:
        return value
    return None


def _location(value: Any, *, uri: bool = False) -> str | None:
    """Where the full report is: a path or a URI, without credentials or control characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_LOCATION_CHARS:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return None
    if uri:
        value = redact_url(value)
    return scrub_text(value)


def notification_from_report(report: Mapping[str, Any]) -> dict:
    """The notification for a run report: only run id, status, dataset, counts, finding codes,
    stage statuses, the error code and where the full report is.

    Built by whitelist. Idempotent: ``notification_from_report(n) == n`` for a notification ``n``.
    """
    if not isinstance(report, Mapping):
        report = {}
    out: dict[str, Any] = {}

    run_id = report.get("run_id")
    out["run_id"] = run_id if isinstance(run_id, str) and RUN_ID_RE.match(run_id) else None
    out["status"] = _slug(report.get("status")) or "unknown"
    dataset = _slug(report.get("dataset"))
    if dataset:
        out["dataset"] = dataset

    rows = report.get("rows")
    if isinstance(rows, Mapping):
        counts = {key: _count(rows.get(key)) for key in ROW_COUNT_KEYS}
        out["rows"] = {key: value for key, value in counts.items() if value is not None}

    entities = report.get("entities")
    if isinstance(entities, Mapping):
        kept: dict[str, dict[str, int]] = {}
        for name, counts in entities.items():
            if len(kept) >= MAX_ITEMS:
                break
            if not _slug(name, NAME_RE) or not isinstance(counts, Mapping):
                continue
            numbers = {key: _count(counts.get(key)) for key in ENTITY_COUNT_KEYS}
            kept[name] = {key: value for key, value in numbers.items() if value is not None}
        out["entities"] = kept

    findings = report.get("findings")
    if isinstance(findings, Mapping):
        kept_findings: dict[str, int] = {}
        for code, number in findings.items():
            if len(kept_findings) >= MAX_ITEMS:
                break
            count = _count(number)
            if _slug(code) and count is not None:
                kept_findings[code] = count
        out["findings"] = kept_findings

    cans = report.get("cans_without_portfolio")
    if isinstance(cans, (list, tuple, set, frozenset)):
        out["cans_without_portfolio"] = len(cans)
    elif _count(cans) is not None:  # already a count (an earlier notification)
        out["cans_without_portfolio"] = _count(cans)

    stages = report.get("stages")
    if isinstance(stages, Mapping):
        kept_stages: dict[str, dict[str, str]] = {}
        for name, stage in stages.items():
            if len(kept_stages) >= MAX_ITEMS:
                break
            if not _slug(name, NAME_RE) or not isinstance(stage, Mapping):
                continue
            kept_stages[name] = {"status": _slug(stage.get("status")) or "unknown"}
        out["stages"] = kept_stages

    error = report.get("error")
    if isinstance(error, Mapping):
        code = _slug(error.get("code"))
        if code:
            out["error"] = {"code": code}  # never the message: it may quote data

    report_path = _location(report.get("report_path"))
    if report_path:
        out["report_path"] = report_path
    report_uri = _location(report.get("report_uri"), uri=True)
    if report_uri:
        out["report_uri"] = report_uri
    return out


def render_text(notification: Mapping[str, Any]) -> tuple[str, str]:
    """``(subject, body)`` as plain text."""
    n = notification_from_report(notification)
    run_id = n["run_id"] or "(unknown run)"
    subject = f"ops-pipeline run {run_id}: {n['status']}"
    lines = [f"ops-pipeline run {run_id}", "", f"Status:  {n['status']}"]
    if "dataset" in n:
        lines.append(f"Dataset: {n['dataset']}")
    if "error" in n:
        lines.append(f"Error:   {n['error']['code']}")
    if n.get("rows"):
        lines += ["", "Rows: " + ", ".join(f"{k} {v}" for k, v in n["rows"].items())]
    if n.get("entities"):
        lines += ["", "Entities:"]
        for name, counts in n["entities"].items():
            text = ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
            lines.append(f"  {name}: {text}")
    if "findings" in n:
        lines += ["", "Findings:" if n["findings"] else "Findings: none"]
        for code, count in sorted(n["findings"].items()):
            lines.append(f"  {code}: {count}")
    if "cans_without_portfolio" in n:
        lines += ["", f"CANs without a portfolio: {n['cans_without_portfolio']}"]
    if n.get("stages"):
        lines += ["", "Stages:"]
        for name, stage in n["stages"].items():
            lines.append(f"  {name}: {stage['status']}")
    if "report_path" in n or "report_uri" in n:
        lines.append("")
        if "report_path" in n:
            lines.append(f"Full report: {n['report_path']}")
        if "report_uri" in n:
            lines.append(f"Report URI:  {n['report_uri']}")
    return subject, "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------

SECURITY_MODES = ("starttls", "tls")
DEFAULT_PORTS = {"starttls": 587, "tls": 465}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    sender: str
    recipients: list[str]
    security: str = "starttls"
    timeout: float = 30
    ca_file: str | None = None
    #: False disables certificate verification (the connection is still encrypted). Tests only.
    verify: bool = True


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str | None = field(repr=False)
    timeout: float = 10
    ca_file: str | None = None
    allow_http_loopback: bool = False
    #: How many times to try in all (connection errors, 429 and 5xx are retried).
    attempts: int = 3
    #: Seconds before the 2nd attempt; doubled for each further one.
    backoff: float = 0.5


Target = Union[EmailSettings, WebhookSettings]


def _secrets_of(settings: Any) -> list[str]:
    values = [getattr(settings, "password", None), getattr(settings, "secret", None)]
    return [value for value in values if isinstance(value, str) and value]


def _scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` on one line with every secret of the target replaced, however short (the SMTP
    password in an SMTP error, also base64-encoded as in SMTP AUTH), and every known one."""
    return " ".join(scrub_secrets(scrub_secrets(text, secrets, min_chars=1)).split())


def _fail(message: str, settings: Any) -> NotifyError:
    return NotifyError(_scrub_secrets(message, _secrets_of(settings)), stage="notify")


def _ssl_context(ca_file: str | None, verify: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# --------------------------------------------------------------------------------------------
# E-mail
# --------------------------------------------------------------------------------------------

_ADDRESS_RE = re.compile(r"^[^\s<>\"',;@]+@[^\s<>\"',;@]+$")


def _check_email_settings(settings: EmailSettings) -> None:
    if not settings.host:
        raise _fail("e-mail: no SMTP host configured", settings)
    if settings.security not in SECURITY_MODES:
        raise _fail(
            f"e-mail: unknown SMTP security {settings.security!r} (use starttls or tls)", settings
        )
    if not settings.username or not settings.password:
        raise _fail(
            "e-mail: SMTP username and password are required; refusing to send unauthenticated",
            settings,
        )
    if not settings.sender or not _ADDRESS_RE.match(settings.sender):
        raise _fail("e-mail: the sender address is missing or malformed", settings)
    if not settings.recipients:
        raise _fail("e-mail: no recipients configured", settings)
    bad = [r for r in settings.recipients if not isinstance(r, str) or not _ADDRESS_RE.match(r)]
    if bad:
        raise _fail(f"e-mail: {len(bad)} recipient address(es) malformed", settings)


def _build_message(notification: Mapping[str, Any], settings: EmailSettings) -> EmailMessage:
    subject, body = render_text(notification)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rsplit("@", 1)[1])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def send_email(notification: Mapping[str, Any], settings: EmailSettings) -> None:
    """Send the notification by e-mail over TLS, after logging in. Raises :class:`NotifyError`."""
    _check_email_settings(settings)
    message = _build_message(notification, settings)
    where = f"{settings.host}:{settings.port}"
    context = _ssl_context(settings.ca_file, settings.verify)
    client: smtplib.SMTP | None = None
    step = "connect"
    sent = False
    try:
        if settings.security == "tls":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
            client.ehlo()
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
            step = "ehlo"
            client.ehlo()
            if not client.has_extn("starttls"):
                raise _fail(
                    f"e-mail: SMTP server {where} does not offer STARTTLS; "
                    "refusing to send without encryption",
                    settings,
                )
            step = "starttls"
            client.starttls(context=context)
            client.ehlo()
        if not isinstance(client.sock, ssl.SSLSocket):  # defensive: never log in in the clear
            raise _fail(f"e-mail: connection to {where} is not encrypted; refusing", settings)
        step = "login"
        client.login(settings.username, settings.password)
        step = "send"
        refused = client.send_message(
            message, from_addr=settings.sender, to_addrs=list(settings.recipients)
        )
        if refused:
            raise _fail(
                f"e-mail: SMTP server {where} refused {len(refused)} of "
                f"{len(settings.recipients)} recipient(s)",
                settings,
            )
        sent = True
    except NotifyError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        # The server's text is left out: it could echo the credentials.
        raise _fail(
            f"e-mail: SMTP server {where} rejected the login for user "
            f"{settings.username!r} (SMTP {exc.smtp_code})",
            settings,
        ) from None
    except smtplib.SMTPNotSupportedError:
        what = "AUTH; refusing to send unauthenticated" if step == "login" else step.upper()
        raise _fail(f"e-mail: SMTP server {where} does not offer {what}", settings) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise _fail(
            f"e-mail: SMTP server {where} refused all {len(exc.recipients)} recipient(s)", settings
        ) from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        raise _fail(
            f"e-mail: SMTP server {where} answered {exc.smtp_code} {text[:200]} at {step}",
            settings,
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise _fail(
            f"e-mail: TLS certificate of SMTP server {where} not trusted: "
            f"{exc.verify_message or exc.reason}",
            settings,
        ) from None
    except ssl.SSLError as exc:
        raise _fail(
            f"e-mail: TLS with SMTP server {where} failed: {exc.reason or exc}", settings
        ) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise _fail(f"e-mail: SMTP server {where} disconnected at {step}: {exc}", settings) from None
    except smtplib.SMTPException as exc:  # (an OSError subclass: before OSError)
        raise _fail(f"e-mail: SMTP error with {where} at {step}: {exc}", settings) from None
    except (socket.timeout, TimeoutError):
        raise _fail(f"e-mail: SMTP server {where} timed out at {step}", settings) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _fail(f"e-mail: cannot connect to SMTP server {where}: {reason}", settings) from None
    finally:
        if client is not None:
            # QUIT politely after success; after a failure (a broken TLS handshake, a refusal)
            # just close: waiting for a reply could take the whole timeout.
            try:
                if sent:
                    client.quit()
            except Exception:  # noqa: BLE001 - the connection is going away anyway
                pass
            finally:
                client.close()


# --------------------------------------------------------------------------------------------
# Webhook
# --------------------------------------------------------------------------------------------

H_TIMESTAMP = "X-OPS-Timestamp"
H_SIGNATURE = "X-OPS-Signature"
H_DELIVERY = "X-OPS-Delivery"
_SIGNATURE_RE = re.compile(r"^sha256=([0-9a-f]{64})$")
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
_DELIVERY_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def webhook_body(notification: Mapping[str, Any]) -> bytes:
    """The compact JSON body (sorted keys) of a notification."""
    n = notification_from_report(notification)
    return json.dumps(n, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign_webhook(secret: str, timestamp: str | int, body: bytes, delivery: str) -> str:
    """The ``X-OPS-Signature`` value:
    ``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{delivery}." + body)>``.

    The delivery id is signed so that two identical notifications sent in the same second differ,
    and a replay under another id does not verify."""
    signed = f"{timestamp}.{delivery}.".encode("ascii", errors="replace") + body
    mac = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: webhook paths and queries often carry tokens."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _check_webhook_url(settings: WebhookSettings) -> str:
    """The URL's host; raises NotifyError when the URL is not one we may post to."""
    try:
        parts = urlsplit(settings.url or "")
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _fail("webhook: the URL cannot be parsed", settings) from None
    if not host:
        raise _fail("webhook: the URL has no host", settings)
    if parts.username or parts.password:
        raise _fail("webhook: credentials in the URL are not allowed; use the secret", settings)
    if parts.scheme == "https":
        return host
    if parts.scheme == "http" and settings.allow_http_loopback and host in LOOPBACK_HOSTS:
        return host
    raise _fail(
        f"webhook: refusing to post to {_origin(settings.url)}: only https:// URLs are allowed",
        settings,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed (they could downgrade to http or change the method)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


_sleep: Callable[[float], None] = time.sleep


def send_webhook(notification: Mapping[str, Any], settings: WebhookSettings) -> None:
    """POST the signed notification. Raises :class:`NotifyError` (with the HTTP status if any)."""
    host = _check_webhook_url(settings)
    if not settings.secret:
        raise _fail("webhook: no secret configured; refusing to send unsigned", settings)
    body = webhook_body(notification)
    timestamp = str(int(time.time()))
    # The same delivery id on every attempt: a retry is the same delivery, so receivers that
    # already got it reject the duplicate.
    delivery = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ops-pipeline-notify",
        H_TIMESTAMP: timestamp,
        H_SIGNATURE: sign_webhook(settings.secret, timestamp, body, delivery),
        H_DELIVERY: delivery,
    }
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if host in LOOPBACK_HOSTS:
        handlers.append(urllib.request.ProxyHandler({}))  # never via a proxy to ourselves
    if urlsplit(settings.url).scheme == "https":
        handlers.append(urllib.request.HTTPSHandler(context=_ssl_context(settings.ca_file)))
    opener = urllib.request.build_opener(*handlers)
    where = _origin(settings.url)
    attempts = max(1, int(settings.attempts))
    last = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            _sleep(settings.backoff * 2 ** (attempt - 2))
        request = urllib.request.Request(settings.url, data=body, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=settings.timeout) as response:
                response.read(65536)
                status = response.status
            if 200 <= status < 300:
                return
            last = f"HTTP {status}"  # 1xx/3xx that got through
            break
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            last = f"HTTP {status}"
            if status == 429 or 500 <= status < 600:
                continue
            break
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise _fail(
                    f"webhook: TLS certificate of {where} not trusted: "
                    f"{reason.verify_message or reason.reason}",
                    settings,
                ) from None
            if isinstance(reason, ssl.SSLError):
                raise _fail(f"webhook: TLS with {where} failed: {reason.reason}", settings) from None
            if isinstance(reason, OSError):
                last = reason.strerror or type(reason).__name__
            else:
                last = str(reason)
        except (socket.timeout, TimeoutError):
            last = "timed out"
        except (OSError, http.client.HTTPException) as exc:
            last = getattr(exc, "strerror", None) or type(exc).__name__
    plural = "attempt" if attempt == 1 else "attempts"
    raise _fail(f"webhook: {where} failed: {last} (after {attempt} {plural})", settings)


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
    seen: set | None = None,
) -> bool:
    """Whether a received webhook is authentic and fresh.

    Checks the HMAC signature (constant-time), that the timestamp is within
    ``tolerance_seconds`` of ``now`` (either direction), and -- when ``seen`` is given -- that
    the delivery id was not accepted before. Only an accepted delivery is added to ``seen``, so
    forged requests cannot block a genuine one. The signature covers the delivery id, so a
    replay under a new id does not verify.
    """
    if not secret:
        raise UsageError("webhook secret is empty: cannot verify deliveries")
    lowered = {str(key).lower(): value for key, value in headers.items()}
    timestamp = str(lowered.get(H_TIMESTAMP.lower(), "")).strip()
    signature = str(lowered.get(H_SIGNATURE.lower(), "")).strip()
    delivery = str(lowered.get(H_DELIVERY.lower(), "")).strip()
    if not _TIMESTAMP_RE.match(timestamp) or not _SIGNATURE_RE.match(signature):
        return False
    if not isinstance(body, (bytes, bytearray)):
        return False
    expected = sign_webhook(secret, timestamp, bytes(body), delivery)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_seconds:
        return False
    if seen is not None:
        if not _DELIVERY_RE.match(delivery):
            return False
        if ("delivery", delivery) in seen:
            return False
        seen.add(("delivery", delivery))
    return True


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

ENV_PREFIX = "OPS_PIPELINE_"
CHANNELS = ("email", "webhook")
EMAIL_REQUIRED = ("SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "SMTP_FROM", "SMTP_TO")
WEBHOOK_REQUIRED = ("WEBHOOK_URL", "WEBHOOK_SECRET")


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(ENV_PREFIX + name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def settings_from_env(
    env: Mapping[str, str] = os.environ,
) -> tuple[EmailSettings | None, WebhookSettings | None]:
    """The e-mail and webhook settings found in the environment.

    A channel is ``None`` when its main variable (``OPS_PIPELINE_SMTP_HOST`` /
    ``OPS_PIPELINE_WEBHOOK_URL``) is not set. Missing credentials are left ``None`` here (sending
    refuses them; :func:`parse_notify_targets` names the missing variable). A malformed port or
    security mode raises :class:`UsageError`.
    """
    email = None
    host = _env(env, "SMTP_HOST")
    if host:
        security = (_env(env, "SMTP_SECURITY") or "starttls").lower()
        if security not in SECURITY_MODES:
            raise UsageError(
                f"{ENV_PREFIX}SMTP_SECURITY must be starttls or tls, not {security!r}"
            )
        port_text = _env(env, "SMTP_PORT")
        if port_text is None:
            port = DEFAULT_PORTS[security]
        else:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise UsageError(f"{ENV_PREFIX}SMTP_PORT must be a port number, not {port_text!r}")
            port = int(port_text)
        recipients = [r.strip() for r in (_env(env, "SMTP_TO") or "").split(",") if r.strip()]
        email = EmailSettings(
            host=host,
            port=port,
            username=_env(env, "SMTP_USER"),
            password=env.get(ENV_PREFIX + "SMTP_PASSWORD") or None,  # not stripped: a secret
            sender=_env(env, "SMTP_FROM") or "",
            recipients=recipients,
            security=security,
            ca_file=_env(env, "SMTP_CA_FILE"),
        )
    webhook = None
    url = _env(env, "WEBHOOK_URL")
    if url:
        webhook = WebhookSettings(
            url=url,
            secret=env.get(ENV_PREFIX + "WEBHOOK_SECRET") or None,
            ca_file=_env(env, "WEBHOOK_CA_FILE"),
        )
    return email, webhook


def parse_notify_targets(
    values: Iterable[str] | None, env: Mapping[str, str] = os.environ
) -> list[Target]:
    """The settings for ``--notify`` values (``email``, ``webhook``, ``email,webhook``; the
    option may be repeated). Raises :class:`UsageError` naming the missing variable when a
    chosen channel is not configured."""
    chosen: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in CHANNELS:
                raise UsageError(
                    f"--notify: unknown channel {part.strip()!r} (choose from {', '.join(CHANNELS)})"
                )
            if name not in chosen:
                chosen.append(name)
    if not chosen:
        return []
    required = {"email": EMAIL_REQUIRED, "webhook": WEBHOOK_REQUIRED}
    for name in chosen:
        missing = [ENV_PREFIX + var for var in required[name] if not _env(env, var)]
        if missing:
            raise UsageError(
                f"--notify {name}: not configured; set {', '.join(missing)}",
                hint="see the notification section of the README",
            )
    email, webhook = settings_from_env(env)
    targets: list[Target] = []
    for name in chosen:
        if name == "email":
            assert email is not None
            if not email.recipients:
                raise UsageError(f"--notify email: {ENV_PREFIX}SMTP_TO has no addresses")
            targets.append(email)
        else:
            assert webhook is not None
            if urlsplit(webhook.url).scheme != "https":
                raise UsageError(f"--notify webhook: {ENV_PREFIX}WEBHOOK_URL must be an https:// URL")
            targets.append(webhook)
    return targets


def notify(report: Mapping[str, Any], targets: Iterable[Target]) -> list[dict]:
    """Send the run's notification to each target; never raises for a failed channel.

    Returns one record per target: ``{"channel": "email", "ok": True}`` or
    ``{"channel": "webhook", "ok": False, "error": "..."}`` (the error holds no secrets).
    """
    notification = notification_from_report(report)
    outcomes: list[dict] = []
    for target in targets:
        if isinstance(target, EmailSettings):
            channel, send = "email", send_email
        elif isinstance(target, WebhookSettings):
            channel, send = "webhook", send_webhook
        else:
            raise TypeError(f"not a notification target: {type(target).__name__}")
        try:
            send(notification, target)
        except NotifyError as exc:
            message = _scrub_secrets(exc.message, _secrets_of(target))
            outcomes.append({"channel": channel, "ok": False, "error": message})
        except Exception as exc:  # noqa: BLE001 - one channel failing must not stop the others
            message = _scrub_secrets(f"{channel}: unexpected {type(exc).__name__}: {exc}",
                                     _secrets_of(target))
            outcomes.append({"channel": channel, "ok": False, "error": message})
        else:
            outcomes.append({"channel": channel, "ok": True})
    return outcomes
