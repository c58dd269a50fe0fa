"""Test servers for TLS and proxies: certificates from a CA made in the test (trustme), HTTPS
receivers on 127.0.0.1 (mutual TLS optional), and a real HTTP forward proxy."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import trustme
from aiohttp import web

from tests.conftest import Receiver, serving


@dataclass
class Pki:
    """A CA made for one test, the receiver's certificate for 127.0.0.1, and a client certificate,
    written as PEM files under `directory`."""

    ca: trustme.CA
    server: trustme.LeafCert
    ca_file: Path
    client_cert: Path  # the certificate alone
    client_key: Path
    client_combined: Path  # key and certificate in one file


def make_pki(directory: Path) -> Pki:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("hookd-client.example", common_name="hookd-client.example")
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client_cert = directory / "client.crt"
    client.cert_chain_pems[0].write_to_path(str(client_cert))
    client_key = directory / "client.key"
    client.private_key_pem.write_to_path(str(client_key))
    combined = directory / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(combined))
    return Pki(ca, server, ca_file, client_cert, client_key, combined)


class HttpsReceiver(Receiver):
    """The shared Receiver, served over TLS; `client_subjects` has the client certificate's subject
    (or None) of each request."""

    def __init__(self) -> None:
        super().__init__()
        self.client_subjects: list[object] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        peer = transport.get_extra_info("peercert") if transport is not None else None
        self.client_subjects.append(peer.get("subject") if peer else None)
        return await super().handle(request)


@asynccontextmanager
async def https_receiver(
    pki: Pki, *, require_client_cert: bool = False, optional_client_cert: bool = False
) -> AsyncIterator[HttpsReceiver]:
    """An HTTPS Receiver on 127.0.0.1:0 with the certificate `pki` issued; with `require_client_cert`
    the handshake fails unless the client presents a certificate of that CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.server.configure_cert(context)
    if require_client_cert or optional_client_cert:
        # Optional: asks for a certificate of the CA, takes a request without one (and records which).
        pki.ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    rec = HttpsReceiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    async with serving(app, ssl=context) as rec.server:
        yield rec


@dataclass
class ProxiedRequest:
    method: str
    target: str  # absolute-form URL, or host:port for CONNECT
    proxy_authorization: str | None


class ForwardProxy:
    """A real HTTP forward proxy on 127.0.0.1:0: a request in absolute form (http://host/path) is
    forwarded and its answer relayed; CONNECT host:port opens a tunnel. With `credentials`, a request
    without the matching Proxy-Authorization is answered 407. Records every request it gets."""

    def __init__(self, credentials: tuple[str, str] | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[ProxiedRequest] = []
        self.expected = (
            "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode() if credentials else None
        )
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
        self.requests.append(ProxiedRequest(method, target, headers.get("proxy-authorization")))
        if self.expected is not None and headers.get("proxy-authorization") != self.expected:
            writer.write(
                b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n'
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream_reader, upstream_writer = await asyncio.open_connection(host.strip("[]"), int(port))
            self._writers.add(upstream_writer)
            try:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            finally:
                self._writers.discard(upstream_writer)
                upstream_writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await upstream_writer.wait_closed()
            return
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        forwarded = {
            k: v
            for k, v in headers.items()
            if k not in ("proxy-authorization", "proxy-connection", "connection", "keep-alive", "host")
        }
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(method, target, headers=forwarded, data=body, allow_redirects=False) as answer,
        ):
            content = await answer.read()
            lines = [f"HTTP/1.1 {answer.status} {answer.reason}"]
            kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in ("content-length", "connection")]
            lines += [f"{k}: {v}" for k, v in kept]
            lines += [f"Content-Length: {len(content)}", "Connection: close"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content)
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()


@asynccontextmanager
async def forward_proxy(
    credentials: tuple[str, str] | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[ForwardProxy]:
    proxy = ForwardProxy(credentials, host)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
