"""The admin listener and `/tail` against an attacker (found by a review): idle and half-sent
connections are closed so they cannot hold every slot; a `/tail` reader that leaves is dropped at
once; the over-cap 503 is sent on uvloop too; web pages cannot drive a token-less listener (Origin,
Sec-Fetch-Site, DNS rebinding through Host); a reader's queue is bounded in bytes, large events are
shown without their data, and a reader that stops reading is dropped."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson
import pytest
import uvloop

from hookd import admin as admin_module
from hookd import admin_http, client
from hookd import tail as tail_module
from hookd.admin import AdminServer
from hookd.admin_http import host_allowed
from hookd.config.load import load_config
from hookd.daemon import Daemon
from hookd.events import parse_event_line
from hookd.redact import Redactor
from hookd.sources.base import Accepted
from hookd.tail import QUEUE_BYTES, SHOWN_EVENT_BYTES, TailHub
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    FAILSAFE_S,
    Receiver,
    event_line,
    raw_http_server,
    running_daemon,
    send_lines,
    socket_config,
    wait_until,
)
from tests.test_admin import TOKEN, admin_config

SHORT_S = 0.2  # the deadlines, shortened for the test
T = TypeVar("T")


def address(daemon: Daemon) -> tuple[str, int]:
    assert daemon.admin_url is not None
    host, port = daemon.admin_url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def status_of(url: str, path: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as session, session.request(method, url + path, headers=headers) as response:
        return response.status


async def answer_of(
    url: str, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.request(method, url + path, headers=headers) as response:
        body = await response.json(content_type=None)
        return response.status, body


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(FAILSAFE_S):
        return await reader.read()


@asynccontextmanager
async def tailing(url: str, into: list[dict[str, object]]) -> AsyncIterator[asyncio.Task[None]]:
    """A `hookd tail` reader (the client's stream) appending each line to `into`, cancelled at the end."""

    async def follow() -> None:
        async for line in client.stream_tail(url, token=None, hooks=[], types=[], sources=[]):
            into.append(line)

    task = asyncio.create_task(follow())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def run_bounded(new_loop: Callable[[], asyncio.AbstractEventLoop], scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`scenario` on an event loop of its own, in a thread: uvloop, given a protocol that raised in
    connection_made (the bug this guards against), hangs in loop.close() where no test timeout reaches."""
    outcome: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            with asyncio.Runner(loop_factory=new_loop) as runner:
                outcome.append(runner.run(scenario()))
        except BaseException as e:
            error.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(FAILSAFE_S * 2)
    assert not thread.is_alive(), "the event loop never finished"
    if error:
        raise error[0]
    return outcome[0]


# -- 1. idle connections ---------------------------------------------------------------------------


async def test_half_sent_and_idle_connections_are_closed_and_free_their_slots(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A `hookd tail` reader streams; 2. 63 clients (with it, every one of the 64 slots) send
    `GET /livez` without the blank line that ends the headers, and wait; 3. a client sends a whole
    request, reads the answer and stays; 4. a client connects and sends nothing.
    Result: once the deadline passes, the half-sent ones are told 408 and closed, the idle ones are
    closed without a word, /livez answers again, and the tail reader (being served) still streams."""
    monkeypatch.setattr(admin_http, "ADMIN_IDLE_S", SHORT_S)
    async with running_daemon(admin_config(short_dir, receiver)) as daemon:
        assert daemon.admin is not None and daemon.admin_url is not None
        host, port = address(daemon)
        lines: list[dict[str, object]] = []
        async with tailing(daemon.admin_url, lines):
            await wait_until(lambda: len(daemon.tail.readers) == 1)
            half_sent = [await asyncio.open_connection(host, port) for _ in range(daemon.admin.max_connections - 1)]
            for _, writer in half_sent:
                writer.write(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
            answers = [await read_to_end(reader) for reader, _ in half_sent]
            assert {a.split(b"\r\n", 1)[0] for a in answers} == {b"HTTP/1.1 408 Request Timeout"}

            reader, kept_alive = await asyncio.open_connection(host, port)
            kept_alive.write(f"GET /livez HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            answer = await read_to_end(reader)
            assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1") == 1
            reader, silent = await asyncio.open_connection(host, port)
            assert await read_to_end(reader) == b""

            assert await status_of(daemon.admin_url, "/livez") == 200
            assert daemon.tail.readers, "the tail stream was cut by the deadline"
            await send_lines(short_dir / "s.sock", [event_line("user.created", id="after")])
            await wait_until(lambda: any(line.get("id") == "after" for line in lines))
            for _, writer in [*half_sent, (None, kept_alive), (None, silent)]:
                writer.close()


# -- 2. a tail reader that leaves ------------------------------------------------------------------


async def test_a_tail_reader_that_leaves_is_dropped_without_waiting_for_a_line(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. A client streams /tail, reads its start line and closes the connection; 2. a `hookd tail`
    reader is cancelled (Ctrl-C). No event arrives. Result: each reader is unregistered at once."""
    async with running_daemon(admin_config(short_dir, receiver)) as daemon:
        assert daemon.admin_url is not None
        host, port = address(daemon)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /tail HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        async with asyncio.timeout(FAILSAFE_S):
            assert b'{"kind": "start"}' in await reader.readuntil(b'{"kind": "start"}')
        assert len(daemon.tail.readers) == 1
        writer.close()
        await wait_until(lambda: not daemon.tail.readers)

        lines: list[dict[str, object]] = []
        async with tailing(daemon.admin_url, lines):
            await wait_until(lambda: len(daemon.tail.readers) == 1)
        await wait_until(lambda: not daemon.tail.readers)
        assert lines == []


# -- 3. the 503 over the cap, on asyncio and uvloop ------------------------------------------------


@pytest.mark.parametrize("new_loop", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_a_connection_over_the_cap_is_answered_503_on_either_event_loop(
    tmp_path: Path, new_loop: Callable[[], asyncio.AbstractEventLoop], caplog: pytest.LogCaptureFixture
) -> None:
    """1. An admin listener on the given event loop serves no more connections (cap 0); a client
    connects. 2. The cap is lifted; a client asks /livez. Result: the first is answered 503 (uvloop's
    transports are no asyncio.WriteTransport: an isinstance check reset the connection and logged a
    traceback), nothing is logged as an error; the second gets 200."""
    cfg = socket_config(tmp_path, 'hooks: [{name: h, events: ["*"], url: "http://127.0.0.1:9/"}]\nadmin: {}')

    async def scenario() -> tuple[bytes, int]:
        admin = AdminServer(Daemon(load_config(cfg)))
        await admin.start()
        try:
            assert admin.url is not None
            host, port = admin.url.removeprefix("http://").rsplit(":", 1)
            admin.max_connections = 0
            reader, writer = await asyncio.open_connection(host, int(port))
            refused = await read_to_end(reader)
            writer.close()
            admin.max_connections = admin_http.MAX_ADMIN_CONNECTIONS
            return refused, await status_of(admin.url, "/livez")
        finally:
            await admin.close()

    cfg.write_text(cfg.read_text().replace("admin: {}", 'admin: {listen: "127.0.0.1:0"}'))
    with caplog.at_level(logging.DEBUG):
        refused, livez = run_bounded(new_loop, scenario)
    assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert livez == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# -- 4. web pages ----------------------------------------------------------------------------------


async def test_requests_from_web_pages_are_refused(short_dir: Path, receiver: Receiver) -> None:
    """A token-less listener on 127.0.0.1. 1. A page's form posts /reload (Origin, text/plain); 2. a
    page's fetch reads /status (Sec-Fetch-Site: cross-site); 3. the same with Sec-Fetch-Site: none
    (typed in the address bar); 4. a probe with an Origin.
    Result: 403 with a sentence for 1, 2 and 4, and the config was not reloaded; 3 is answered."""
    async with running_daemon(admin_config(short_dir, receiver)) as daemon:
        assert daemon.admin_url is not None
        url = daemon.admin_url
        code, body = await answer_of(
            url, "/reload", method="POST", headers={"Origin": "http://evil.example", "Content-Type": "text/plain"}
        )
        assert code == 403
        assert str(body["error"]).startswith("the admin listener refuses requests from web pages (this one carries an")
        code, body = await answer_of(url, "/status", headers={"Sec-Fetch-Site": "cross-site"})
        assert code == 403 and "Sec-Fetch-Site: cross-site" in str(body["error"])
        assert await status_of(url, "/status", headers={"Sec-Fetch-Site": "none"}) == 200
        assert await status_of(url, "/livez", headers={"Origin": "null"}) == 403
        assert await status_of(url, "/tail", headers={"Origin": "http://evil.example"}) == 403
        assert sum(daemon.reloads.values()) == 0


async def test_a_tokenless_listener_answers_data_only_to_an_address_or_its_own_host(
    short_dir: Path, receiver: Receiver
) -> None:
    """A token-less listener on 127.0.0.1. 1. Requests with `Host: attacker.example` (a DNS name
    rebound to 127.0.0.1); 2. with Host an IP address, localhost or [::1], with or without a port;
    3. curl's own request for /metrics. Result: 1 is refused (403, saying what to do) for /status,
    /metrics, /tail, /reload and /hooks/refresh, while the probes answer; 2 and 3 are answered."""
    async with running_daemon(admin_config(short_dir, receiver)) as daemon:
        assert daemon.admin_url is not None
        url = daemon.admin_url
        host, port = address(daemon)
        rebound = {"Host": f"attacker.example:{port}"}
        code, body = await answer_of(url, "/status", headers=rebound)
        assert code == 403
        assert str(body["error"]) == (
            "this admin listener has no token, so it answers only requests addressed to an IP address, localhost "
            f"or 127.0.0.1 (this one was for 'attacker.example:{port}'); use one of those in the URL, or set "
            "admin.token"
        )
        for method, path in (("GET", "/metrics"), ("GET", "/tail"), ("POST", "/reload"), ("POST", "/hooks/refresh")):
            assert await status_of(url, path, method=method, headers=rebound) == 403, path
        for path in ("/livez", "/healthz", "/readyz"):
            assert await status_of(url, path, headers=rebound) == 200, path
        for named in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}", "[::1]"):
            assert await status_of(url, "/status", headers={"Host": named}) == 200, named

        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"GET /metrics HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n".encode()
        )
        async with asyncio.timeout(FAILSAFE_S):
            head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        assert head.startswith(b"HTTP/1.1 200 ")


async def test_with_a_token_any_host_may_ask_but_no_web_page(short_dir: Path, receiver: Receiver) -> None:
    cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:0", token: {TOKEN}}}')
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url is not None
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert await status_of(daemon.admin_url, "/status", headers={**auth, "Host": "hookd.example:8780"}) == 200
        assert await status_of(daemon.admin_url, "/status", headers={"Host": "hookd.example:8780"}) == 401
        assert await status_of(daemon.admin_url, "/status", headers={**auth, "Origin": "http://evil.example"}) == 403


async def test_on_a_unix_socket_the_host_does_not_matter(short_dir: Path, receiver: Receiver) -> None:
    cfg = admin_config(short_dir, receiver, admin="{path: admin.sock}")
    async with running_daemon(cfg):
        connector = aiohttp.UnixConnector(path=str(short_dir / "admin.sock"))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get("http://localhost/status", headers={"Host": "attacker.example"}) as response,
        ):
            assert response.status == 200


async def test_hookds_own_commands_still_work_over_tcp(short_dir: Path, receiver: Receiver) -> None:
    """`hookd status`, `hookd reload`, `hookd hooks pause` with the config of a token-less listener on
    127.0.0.1, and `hookd tail` through the client. Result: each is answered as before."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:{port}"}}')
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url == f"http://127.0.0.1:{port}"
        status = await hookd("status", "-c", str(cfg), "--json")
        assert status.exit_code == 0, status.output
        reload = await hookd("reload", "-c", str(cfg))
        assert reload.exit_code == 0, reload.output
        pause = await hookd("hooks", "pause", "good", "-c", str(cfg))
        assert pause.exit_code == 0, pause.output
        assert "(the running daemon took it up)" in plain(pause.output)
        lines: list[dict[str, object]] = []
        async with tailing(daemon.admin_url, lines):
            await wait_until(lambda: len(daemon.tail.readers) == 1)
            await send_lines(short_dir / "s.sock", [event_line("user.created", id="seen")])
            await wait_until(lambda: any(line.get("id") == "seen" for line in lines))


async def test_the_client_says_why_the_listener_refused() -> None:
    sentence = "this admin listener has no token, so it answers only requests addressed to an IP address"
    body = orjson.dumps({"error": sentence})
    answer = b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    async with raw_http_server(answer) as url:
        base = url.removesuffix("/r")
        with pytest.raises(client.AdminRefused) as caught:
            await client.fetch_status(base, token=None)
    assert str(caught.value) == f"the admin listener at {base} refused the request (403): {sentence}"


def test_which_hosts_a_tokenless_listener_answers() -> None:
    allowed = ["127.0.0.1", "127.0.0.1:8780", "10.0.0.7:80", "[::1]:8780", "[::1]", "localhost", "Localhost:1"]
    allowed += ["hookd.internal:8780", "HOOKD.internal"]  # the listen host itself
    for host in allowed:
        assert host_allowed(host, "hookd.internal"), host
    for host in ["attacker.example", "attacker.example:8780", "localhost.attacker.example", "", "127.0.0.1.nip.io"]:
        assert not host_allowed(host, "hookd.internal"), host
    # Sloppy forms once read as addresses: text after the bracket, a zone id, a port that is no number.
    for host in ["[::1]evil.com", "[::1].evil.com:80", "[fe80::1%25evil]", "fe80::1%eth0", "127.0.0.1:evil"]:
        assert not host_allowed(host, "hookd.internal"), host
    assert not host_allowed("", "")


# -- 5. tail memory --------------------------------------------------------------------------------


def test_a_readers_queue_is_bounded_in_bytes() -> None:
    """Events of about 60 KB (shown whole), more than QUEUE_BYTES of them, to a reader that never
    reads. Result: it holds at most QUEUE_BYTES of lines, misses the rest and is told; a line taken
    gives its bytes back."""
    hub = TailHub(Redactor(()))
    reader = hub.subscribe([], [], [])
    event = parse_event_line(event_line(id="big", data={"blob": "x" * 60_000}), max_bytes=100_000)
    assert len(event.body) < SHOWN_EVENT_BYTES
    offered = QUEUE_BYTES // 60_000 + 30
    for _ in range(offered):
        hub.stored("app", event, Accepted(id=event.id, duplicate=False, deliveries=0))
    line_bytes = reader.queued_bytes // reader.queue.qsize()
    assert line_bytes > 60_000
    assert reader.queued_bytes <= QUEUE_BYTES < reader.queued_bytes + line_bytes
    assert reader.missed == offered - reader.queue.qsize() > 0
    before = reader.queued_bytes
    taken = asyncio.run(reader.next_line())
    assert orjson.loads(taken)["data"] == {"blob": "x" * 60_000}
    assert reader.queued_bytes == before - len(taken)


def test_a_large_events_data_is_left_out_of_its_line() -> None:
    """1,000 events of 1 MB to a reader that never reads (the review grew the daemon by 500 MB so).
    Result: each line says data_truncated with the stored event's size, instead of the data; the
    reader holds well under 1 MB; an event of 64 KB or less keeps its data."""
    hub = TailHub(Redactor(()))
    reader = hub.subscribe([], [], [])
    event = parse_event_line(event_line(id="huge", data={"blob": "y" * 1_000_000}), max_bytes=2_000_000)
    for _ in range(1000):
        hub.stored("app", event, Accepted(id=event.id, duplicate=False, deliveries=0))
    assert reader.queue.qsize() == 1000 and reader.missed == 0
    assert reader.queued_bytes < 1_000_000
    line = orjson.loads(reader.queue.get_nowait())
    assert line["data"] is None and line["data_truncated"] is True and line["event_bytes"] == len(event.body)

    small = parse_event_line(event_line(id="small", data={"n": 1}), max_bytes=1000)
    hub.stored("app", small, Accepted(id=small.id, duplicate=False, deliveries=0))
    *_, last = [orjson.loads(reader.queue.get_nowait()) for _ in range(reader.queue.qsize())]
    assert last["data"] == {"n": 1} and "data_truncated" not in last


async def test_hookd_tail_shows_a_large_event_without_its_data(short_dir: Path, receiver: Receiver) -> None:
    async with running_daemon(admin_config(short_dir, receiver)) as daemon:
        assert daemon.admin_url is not None
        lines: list[dict[str, object]] = []
        async with tailing(daemon.admin_url, lines):
            await wait_until(lambda: len(daemon.tail.readers) == 1)
            big = event_line("user.created", id="big", data={"blob": "z" * 100_000})
            await send_lines(short_dir / "s.sock", [big])
            await wait_until(lambda: any(line.get("id") == "big" for line in lines))
    [shown] = [line for line in lines if line.get("id") == "big"]
    assert shown["data"] is None and shown["data_truncated"] is True
    assert isinstance(shown["event_bytes"], int) and shown["event_bytes"] > 100_000


async def test_a_reader_that_stops_reading_is_dropped(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A client with a small receive buffer asks /tail and never reads; 2. lines of about 60 KB
    keep coming. Result: once a write has not completed for the (shortened) deadline, the reader is
    unregistered and its connection closed; the listener answers others."""
    monkeypatch.setattr(admin_module, "TAIL_WRITE_TIMEOUT_S", SHORT_S)
    async with running_daemon(admin_config(short_dir, receiver)) as daemon:
        assert daemon.admin_url is not None
        host, port = address(daemon)
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(stuck, (host, port))
            await asyncio.get_running_loop().sock_sendall(
                stuck, f"GET /tail HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
            )
            await wait_until(lambda: len(daemon.tail.readers) == 1)
            [reader] = daemon.tail.readers
            event = parse_event_line(event_line(id="e", data={"blob": "w" * 60_000}), max_bytes=100_000)
            async with asyncio.timeout(FAILSAFE_S):
                while reader in daemon.tail.readers:
                    daemon.tail.stored("app", event, Accepted(id=event.id, duplicate=False, deliveries=0))
                    await asyncio.sleep(0.005)
            assert await status_of(daemon.admin_url, "/livez") == 200
        finally:
            stuck.close()


def test_the_tail_limits_are_the_documented_ones() -> None:
    """The numbers the README gives for `hookd tail` and the admin listener are the code's: each
    phrase is built from the constant it states and must be in the README (whitespace folded)."""
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
    mib, kib = 1024 * 1024, 1024
    said = [
        f"past {tail_module.QUEUE_LINES:,} lines or {tail_module.QUEUE_BYTES // mib} MB behind",
        f"over {tail_module.SHOWN_EVENT_BYTES // kib} KB is shown without its data",
        f"takes nothing of a line for {admin_module.TAIL_WRITE_TIMEOUT_S:g} s",
        f"All readers together are at most {tail_module.TOTAL_QUEUE_BYTES // mib} MB behind",
        f"at most {tail_module.MAX_READERS} read at once",
        f"each with at most {tail_module.MAX_FILTERS} filters of a kind of at most "
        f"{tail_module.MAX_FILTER_CHARS} characters",
        f"A client has {admin_http.ADMIN_IDLE_S:g} s to send a request's headers",
    ]
    assert [phrase for phrase in said if phrase not in readme] == []
