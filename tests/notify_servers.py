"""Real local servers for the notification tests: SMTP (aiosmtpd) and an HTTP(S) webhook receiver.

Everything listens on 127.0.0.1 on a free port; TLS certificates come from a throw-away ``trustme``
CA whose PEM file the client settings point at (``ca_file``).

Fixtures (import them into a test module):

* ``tls_ca``, ``ca_file``, ``untrusted_ca_file``, ``server_tls_context`` -- session scoped.
* ``smtp_starttls_server`` -- STARTTLS required, AUTH only after TLS.
* ``smtp_tls_server`` -- implicit TLS (TLS from the first byte), AUTH required.
* ``smtp_plain_server`` -- no STARTTLS at all; would even accept AUTH in the clear.
* ``webhook_receiver`` (HTTPS) and ``webhook_receiver_http`` (plain HTTP on loopback).
"""
from __future__ import annotations

import hashlib
import hmac
import http.server
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


SMTP_USER = "ops-notify"
SMTP_PASSWORD = "Pw-5ecret-canary-7781!"
WEBHOOK_SECRET = "whsec-canary-0f3e9a2b7c"


def free_port() -> int:
    """A port nothing listens on (bound, read and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------------------
# TLS material
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(tls_ca, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def untrusted_ca_file(tmp_path_factory) -> str:
    """A CA that did not sign the servers' certificate."""
    path = tmp_path_factory.mktemp("other-ca") / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_tls_context(tls_ca) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(context)
    return context


# ------------------------------------------------------------------------------------------
# SMTP
# ------------------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes  # the message exactly as received (DATA)
    tls: bool  # the session was encrypted when DATA arrived
    authenticated: bool
    login: str | None


@dataclass
class SmtpServer:
    host: str
    port: int
    security: str  # "starttls", "tls" or "plain"
    ca_file: str | None
    user: str = SMTP_USER
    password: str = SMTP_PASSWORD
    messages: list[ReceivedMail] = field(default_factory=list)
    #: Every AUTH attempt: {"login", "ok", "tls"}.
    auth_attempts: list[dict] = field(default_factory=list)


def _is_tls(server: Any) -> bool:
    transport = getattr(server, "transport", None)
    return bool(transport is not None and transport.get_extra_info("ssl_object") is not None)


class _Handler:
    def __init__(self, record: SmtpServer) -> None:
        self.record = record

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.record.messages.append(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                raw=bytes(envelope.original_content or b""),
                tls=_is_tls(server),
                authenticated=bool(session.authenticated),
                login=login,
            )
        )
        return "250 Message accepted for delivery"


def _authenticator(record: SmtpServer, *, require_tls: bool) -> Callable:
    def authenticate(server, session, envelope, mechanism, auth_data):
        tls = _is_tls(server)
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == record.user.encode()
            and auth_data.password == record.password.encode()
            and (tls or not require_tls)
        )
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None
        record.auth_attempts.append({"login": login, "ok": ok, "tls": tls})
        # handled=False: aiosmtpd itself answers a failure with "535 Authentication failed".
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


class _FreePortController(Controller):
    """aiosmtpd's Controller bound to port 0 (the OS picks a free port)."""

    def _trigger_server(self):
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _start_smtp(security: str, server_tls_context, ca_file) -> tuple[SmtpServer, Controller]:
    record = SmtpServer(host="127.0.0.1", port=0, security=security, ca_file=ca_file)
    kwargs: dict[str, Any] = dict(
        hostname="127.0.0.1",
        port=0,
        server_hostname="localhost",  # the SMTP greeting name (avoids a getfqdn lookup)
        ready_timeout=5,
    )
    if security == "starttls":
        kwargs.update(
            tls_context=server_tls_context,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=_authenticator(record, require_tls=True),
        )
    elif security == "tls":
        # aiosmtpd only counts STARTTLS as TLS for auth_require_tls, so the authenticator checks
        # the transport itself: the connection is TLS from the first byte.
        kwargs.update(
            ssl_context=server_tls_context,
            auth_require_tls=False,
            authenticator=_authenticator(record, require_tls=True),
        )
    else:  # plain: no STARTTLS; it would even accept a login in the clear
        kwargs.update(
            auth_require_tls=False,
            authenticator=_authenticator(record, require_tls=False),
        )
    controller = _FreePortController(_Handler(record), **kwargs)
    controller.start()
    record.port = controller.port
    return record, controller


@pytest.fixture
def smtp_starttls_server(server_tls_context, ca_file):
    record, controller = _start_smtp("starttls", server_tls_context, ca_file)
    yield record
    controller.stop()


@pytest.fixture
def smtp_tls_server(server_tls_context, ca_file):
    record, controller = _start_smtp("tls", server_tls_context, ca_file)
    yield record
    controller.stop()


@pytest.fixture
def smtp_plain_server(server_tls_context):
    record, controller = _start_smtp("plain", server_tls_context, None)
    yield record
    controller.stop()


# ------------------------------------------------------------------------------------------
# Webhook receiver
# ------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    path: str
    body: bytes
    headers: dict[str, str]
    accepted: bool
    status: int


@dataclass
class WebhookReceiver:
    url: str
    ca_file: str | None
    secret: str = WEBHOOK_SECRET
    tolerance_seconds: int = 300
    deliveries: list[Delivery] = field(default_factory=list)
    seen: set = field(default_factory=set)
    #: Statuses to answer with before verifying (e.g. [503, 503]); consumed one per request.
    forced_statuses: list[int] = field(default_factory=list)
    now: Callable[[], float] | None = None

    @property
    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.accepted]

    @property
    def rejected(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.accepted]


def expected_signature(secret: str, timestamp: str, delivery: str, body: bytes) -> str:
    """The X-OPS-Signature a receiver expects, written from the README alone (not from
    ops_pipeline.notify): hex HMAC-SHA256, keyed with the secret's UTF-8 bytes, over the ASCII
    bytes of ``TIMESTAMP.DELIVERY.`` followed by the raw body bytes, prefixed ``sha256=``."""
    signed = timestamp.encode("ascii") + b"." + delivery.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def receiver_verifies(body: bytes, headers, secret: str, *, now: float, tolerance_seconds: int = 300,
                      seen: set | None = None) -> bool:
    """What the README tells a receiver to check: the signature (constant-time), the timestamp
    within the replay window either way, and a delivery id not accepted before."""
    timestamp = headers.get("X-OPS-Timestamp") or ""
    delivery = headers.get("X-OPS-Delivery") or ""
    signature = headers.get("X-OPS-Signature") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and delivery.isascii() and delivery):
        return False
    if not hmac.compare_digest(expected_signature(secret, timestamp, delivery, body).encode(),
                               signature.encode("ascii", "replace")):
        return False
    if abs(now - int(timestamp)) > tolerance_seconds:
        return False
    if seen is not None:
        if delivery in seen:
            return False
        seen.add(delivery)
    return True


def _receiver_handler(receiver: WebhookReceiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - http.server hook name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {key: value for key, value in self.headers.items()}
            if receiver.forced_statuses:
                status = receiver.forced_statuses.pop(0)
                accepted = False
            else:
                now = receiver.now() if receiver.now else time.time()
                accepted = receiver_verifies(body, self.headers, receiver.secret, now=now,
                                             tolerance_seconds=receiver.tolerance_seconds, seen=receiver.seen)
                status = 204 if accepted else 401
            receiver.deliveries.append(Delivery(self.path, body, headers, accepted, status))
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
            pass

    return Handler


def _start_receiver(tls_context: ssl.SSLContext | None, ca_file: str | None):
    receiver = WebhookReceiver(url="", ca_file=ca_file)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(receiver))
    server.daemon_threads = True
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    scheme = "https" if tls_context is not None else "http"
    receiver.url = f"{scheme}://127.0.0.1:{port}/hooks/ops"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return receiver, server, thread


@pytest.fixture
def webhook_receiver(server_tls_context, ca_file):
    receiver, server, thread = _start_receiver(server_tls_context, ca_file)
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def webhook_receiver_http():
    receiver, server, thread = _start_receiver(None, None)
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(5)


def post_raw(url: str, body: bytes, headers: dict[str, str], ca_file: str | None = None) -> int:
    """POST exactly these bytes and headers (to replay or tamper with a delivery); the status."""
    import urllib.error
    import urllib.request

    handlers: list = [urllib.request.ProxyHandler({})]
    if url.startswith("https:"):
        handlers.append(
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_file))
        )
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code
