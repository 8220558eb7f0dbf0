"""pytest fixtures: a real S3-protocol server (moto in server mode, in a subprocess).

Nothing is patched in-process: the code under test talks HTTP to ``moto.server`` on 127.0.0.1.

Use from a test module with ``from tests.s3_server import *`` (or list ``"tests.s3_server"`` in
``pytest_plugins`` of the root conftest). Fixtures:

``aws_env``
    (function) fake AWS credentials in the environment (``AWS_ACCESS_KEY_ID=testing``...,
    ``AWS_DEFAULT_REGION=us-east-1``), no ``VCAP_SERVICES``/``OPS_PIPELINE_S3_*``, no shared
    config files, instance metadata disabled (nothing ever goes to 169.254.169.254).
``moto_server``
    (session) the running :class:`MotoServer` (``.url``, ``.log_text()``).
``s3_endpoint``
    (session) its endpoint URL, ``http://127.0.0.1:PORT``.
``s3_bucket``
    (function) ``(client, bucket)``: a client from ``make_client`` (short timeouts) and a fresh,
    uniquely named bucket. Versioned with
    ``@pytest.mark.parametrize("s3_bucket", [{"versioned": True}], indirect=True)``.
``s3_versioned_bucket``
    (function) the same with versioning enabled.
``s3_endpoint_killable``
    (function) a private :class:`MotoServer` for one test; call ``.stop()`` to make the
    endpoint go away mid-test.
``corrupting_proxy``
    (function) factory ``corrupting_proxy(upstream_url, old, new) -> CorruptingProxy``
    (``.url``, ``.replacements``): a TCP proxy on 127.0.0.1 that replaces the bytes ``old`` with
    ``new`` (same length) in responses, to test integrity checks against real, tampered HTTP
    traffic. Moto answers ``Connection: close``, so each request is one proxied connection.
"""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

__all__ = [
    "MotoServer",
    "CorruptingProxy",
    "free_port",
    "closed_port_url",
    "aws_env",
    "moto_server",
    "s3_endpoint",
    "s3_bucket",
    "s3_versioned_bucket",
    "s3_endpoint_killable",
    "corrupting_proxy",
]

HOST = "127.0.0.1"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
UNSET_ENV = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "VCAP_SERVICES",
    "OPS_PIPELINE_S3_ENDPOINT_URL",
    "OPS_PIPELINE_S3_SERVICE",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    return f"http://{HOST}:{free_port()}"


class MotoServer:
    """``python -m moto.server`` in a subprocess on 127.0.0.1 and a free port."""

    def __init__(self, startup_timeout: float = 30.0) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="moto-server-", suffix=".log", delete=False)
        self.log_path = Path(self._log.name)
        env = dict(os.environ)
        env.update(FAKE_ENV)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            self._wait_ready(startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with {self.process.returncode}:\n{self.log_text()}"
                )
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=1)
                conn.request("GET", "/")
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"moto server did not answer on {self.url}:\n{self.log_text()}")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server (idempotent); its port then refuses connections."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()

    def cleanup(self) -> None:
        self.stop()
        try:
            self.log_path.unlink()
        except OSError:
            pass


class CorruptingProxy:
    """A TCP proxy to ``upstream`` that replaces ``old`` by ``new`` in what the server sends.

    ``old`` and ``new`` have the same length so Content-Length stays right and only the bytes
    change. Meant for small bodies (the marker must arrive within one read).
    """

    def __init__(self, upstream_url: str, old: bytes, new: bytes) -> None:
        if len(old) != len(new):
            raise ValueError("old and new must have the same length")
        host_port = upstream_url.split("://", 1)[-1].rstrip("/")
        host, _, port = host_port.rpartition(":")
        self.upstream = (host, int(port))
        self.old, self.new = old, new
        self.replacements = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((HOST, 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.url = f"http://{HOST}:{self._listener.getsockname()[1]}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, tamper: bool) -> None:
        src.settimeout(10)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if tamper and self.old in data:
                    self.replacements += data.count(self.old)
                    data = data.replace(self.old, self.new)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        self._thread.join(timeout=2)


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and an isolated AWS configuration for one test."""
    for name in UNSET_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    missing = str(Path(tempfile.gettempdir()) / f"no-aws-config-{uuid.uuid4().hex}")
    monkeypatch.setenv("AWS_CONFIG_FILE", missing)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
    return dict(FAKE_ENV)


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def s3_endpoint(moto_server) -> str:
    return moto_server.url


def _new_bucket(client, versioned: bool) -> str:
    bucket = f"test-{uuid.uuid4().hex[:20]}"
    client.create_bucket(Bucket=bucket)
    if versioned:
        client.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    return bucket


def _test_client(endpoint: str):
    from ops_pipeline.sources.s3 import make_client

    return make_client(endpoint, connect_timeout=2, read_timeout=10, max_attempts=2)


@pytest.fixture
def s3_bucket(request, s3_endpoint, aws_env):
    """``(client, bucket)`` with a fresh bucket; ``request.param`` may be ``{"versioned": True}``."""
    options = getattr(request, "param", None) or {}
    client = _test_client(s3_endpoint)
    yield client, _new_bucket(client, bool(options.get("versioned")))


@pytest.fixture
def s3_versioned_bucket(s3_endpoint, aws_env):
    client = _test_client(s3_endpoint)
    yield client, _new_bucket(client, True)


@pytest.fixture
def s3_endpoint_killable(aws_env):
    """A private server for one test: ``.url``, ``.stop()`` (stopped at teardown anyway)."""
    server = MotoServer()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def corrupting_proxy():
    proxies: list[CorruptingProxy] = []

    def start(upstream_url: str, old: bytes, new: bytes) -> CorruptingProxy:
        proxy = CorruptingProxy(upstream_url, old, new)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()
