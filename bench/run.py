#!/usr/bin/env python3
"""hookd benchmark: delivered events/s through `hookd serve` against a bare aiohttp client, in one run.

Standalone script (not a test): `python bench/run.py --help`. See bench/README.md for what each
figure means and shared/PERFORMANCE.md for the design figures it is compared with.

Per run: a bare aiohttp client POSTs N envelopes to a local receiver (baseline_rps); then a fresh
`hookd serve` (fresh database) takes N events over its unix socket from 4 pipelined connections and
delivers them to the same receiver (hookd_eps); ratio = hookd_eps / baseline_rps. The same daemon
then gets a paced stream on one connection to measure ack latency, and its peak RSS is read before
it is stopped with SIGTERM. Only aiohttp, orjson and the hookd CLI are used (uvloop too when
installed, as `hookd serve` itself does), and all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson
from aiohttp import web

T = TypeVar("T")

CONCURRENCY = 64  # baseline client workers == hookd delivery.concurrency == hook concurrency
POLL_S = 0.05  # receiver count polling interval
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
MAX_UNIX_PATH = 107
# uvloop's timers count whole milliseconds: asyncio.sleep() of less than 0.5 ms returns at the next
# loop turn, so a client pacing 2,000 events/s with exact sleeps spun and took ~80% of a core from
# the 2 this benchmark shares with hookd. Paced senders sleep at least this long and then send
# everything that fell due meanwhile (about 2 events per wake-up at 2,000/s).
MIN_SLEEP_S = 0.001
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The benchmark could not measure what it should: printed as is, exit status 1."""


# -- receiver (child process) ----------------------------------------------------------------------


def receiver_main() -> None:
    """Answer 200 to every POST and count them; GET /count reports, GET /reset clears. A POST to
    /batch (--batch) is a JSON array of envelopes: each counts as an event, by its own id."""
    state: dict[str, Any] = {"count": 0, "first": 0.0, "last": 0.0, "bytes": 0, "events": 0}
    ids: set[str] = set()
    event_ids: set[str] = set()

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.method == "POST":
            body = await request.read()
            state["count"] += 1
            state["bytes"] += len(body)
            state["last"] = time.monotonic()
            if state["count"] == 1:
                state["first"] = state["last"]
            wid = request.headers.get("webhook-id")
            if wid is not None:
                ids.add(wid)
            if request.path == "/batch":
                items = orjson.loads(body)
                state["events"] += len(items)
                event_ids.update(str(item["id"]) for item in items)
            else:
                state["events"] += 1
            return web.Response(status=200)
        if request.path == "/count":
            reply = {**state, "distinct_webhook_ids": len(ids), "distinct_event_ids": len(event_ids)}
            return web.Response(body=orjson.dumps(reply), content_type="application/json")
        if request.path == "/reset":
            state.update(count=0, first=0.0, last=0.0, bytes=0, events=0)
            ids.clear()
            event_ids.clear()
            return web.Response(status=204)
        return web.Response(status=404)

    async def serve() -> None:
        server = web.Server(handle, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        sys.stdout.write(f"PORT {port}\n")
        sys.stdout.flush()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve())


def ack_server_main(path: str) -> None:
    """The floor for ack latency: answer every line at once, storing nothing."""

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1 << 16):
                writer.write(b'{"ok": true}\n' * data.count(b"\n"))
        writer.close()

    async def serve() -> None:
        server = await asyncio.start_unix_server(on_connection, path=path)
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        async with server:
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve())


def post_load_main(url: str, rate: float, n: int) -> None:
    """The delivery load hookd's worker puts on the machine during the latency phase: a bare client
    posting the same bodies at the same rate, each request as its own task, 64 at most in flight."""

    async def post() -> None:
        connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=0, keepalive_timeout=30)
        headers = {"Content-Type": "application/json"}
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(body: bytes) -> None:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()

            tasks: set[asyncio.Task[None]] = set()
            start = time.perf_counter()
            for i, body in enumerate(envelope_bodies(n)):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(max(MIN_SLEEP_S, delay))
                task = asyncio.create_task(one(body))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks, return_exceptions=True)

    run_loop(post())


# -- helpers ---------------------------------------------------------------------------------------


def run_loop(coro: Awaitable[T]) -> T:
    """Same loop policy as `hookd serve`: uvloop when installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[no-any-return]


def loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def utc_now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_data(i: int) -> dict[str, object]:
    return {
        "order_id": 100000 + i,
        "customer": {"id": 5000 + i % 977, "name": f"Customer {i % 977}", "email": f"c{i % 977}@example.com"},
        "total": round(10 + (i % 1000) * 1.37, 2),
        "currency": "EUR",
        "items": 1 + i % 7,
        "status": "paid",
    }


def event_lines(n: int, offset: int = 0) -> list[bytes]:
    """What a producer writes to the socket: one JSON object per line, id and time left to hookd."""
    return [
        orjson.dumps({"type": "order.created", "source": "bench", "data": event_data(offset + i)}) + b"\n"
        for i in range(n)
    ]


def envelope_bodies(n: int) -> list[bytes]:
    """What hookd sends for those events with no payload template: {id, type, time, source, data}."""
    now = utc_now_rfc3339()
    return [
        orjson.dumps(
            {"id": str(uuid.uuid4()), "type": "order.created", "time": now, "source": "bench", "data": event_data(i)}
        )
        for i in range(n)
    ]


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state is [0], ppid [1])."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """`pid` and its child processes (hookd serve and its delivery worker)."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != pid:
            fields = proc_stat(int(entry))
            if fields is not None and int(fields[1]) == pid:
                pids.append(int(entry))
    return pids


def tree_status_kb(pid: int, key: str) -> int | None:
    """`key` of /proc/<pid>/status summed over the process and its children (VmHWM: an upper bound of
    the peak, since the processes may peak at different times)."""
    values = [proc_status_kb(p, key) for p in process_tree(pid)]
    return sum(v for v in values if v is not None) if values[0] is not None else None


def cpu_s(pid: int) -> float | None:
    """utime + stime of one process, in seconds (10 ms resolution)."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields is not None else None


def tree_cpu_s(pid: int) -> dict[int, float] | None:
    """utime + stime of a process and of each of its children, in seconds, by pid."""
    by_pid = {p: cpu for p in process_tree(pid) if (cpu := cpu_s(p)) is not None}
    return by_pid if pid in by_pid else None


def us_per(before_s: float | None, after_s: float | None, n: int) -> float | None:
    """µs per item between two CPU-time readings in seconds (None when either is missing)."""
    return (after_s - before_s) / n * 1e6 if before_s is not None and after_s is not None else None


def cpu_split_us(before: dict[int, float], after: dict[int, float], root: int, n: int) -> tuple[float, float]:
    """(the daemon's, its children's) CPU per event in µs between two tree_cpu_s() readings."""
    own = (after[root] - before.get(root, 0.0)) / n * 1e6
    children = sum(cpu - before.get(p, 0.0) for p, cpu in after.items() if p != root) / n * 1e6
    return own, children


def tail(path: Path, lines: int = 25, width: int = 400) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no stderr captured)"
    return "\n".join(line[:width] for line in text.splitlines()[-lines:]) or "(empty)"


def log(msg: str) -> None:
    print(msg, flush=True)


# -- receiver control (parent) ---------------------------------------------------------------------


class Receiver:
    def __init__(self, workdir: Path) -> None:
        self.stderr_path = workdir / "receiver.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float | None:
        return cpu_s(self.proc.pid) if self.proc is not None else None

    def start(self) -> None:
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--receiver"],
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,  # Ctrl-C reaches only this script, which stops it in `finally`
            )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else b""
        if not line.startswith(b"PORT "):
            raise BenchError(
                f"the receiver did not report its port within {READY_TIMEOUT_S:.0f}s (got {line!r}); "
                f"its stderr:\n{tail(self.stderr_path)}"
            )
        self.port = int(line.split()[1])

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def _get(self, path: str) -> dict[str, Any]:
        assert self._session is not None
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"the receiver exited with {self.proc.returncode}; its stderr:\n{tail(self.stderr_path)}")
        async with self._session.get(self.url + path) as resp:
            return orjson.loads(await resp.read()) if resp.status == 200 else {}

    async def count(self) -> dict[str, Any]:
        return await self._get("/count")

    async def reset(self) -> None:
        await self._get("/reset")

    async def wait_for(
        self, target: int, timeout: float, what: str, check: Callable[[], None] | None = None, *, key: str = "count"
    ) -> dict[str, Any]:
        """Poll every 50 ms until the receiver has counted `target` POSTs (key="events": events, a batch
        counting each of its items); BenchError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            c = await self.count()
            if c[key] >= target:
                return c
            if check is not None:
                check()
            if time.monotonic() > deadline:
                raise BenchError(f"{what}: the receiver counted {c[key]} of {target} within {timeout:.0f}s")
            await asyncio.sleep(POLL_S)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# -- baseline --------------------------------------------------------------------------------------


async def baseline(url: str, bodies: Sequence[bytes], timeout: float) -> tuple[float, float]:
    """Bare aiohttp client, one session, 64 workers: returns (elapsed_s, client CPU seconds)."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=0, keepalive_timeout=30)
    headers = {"Content-Type": "application/json"}
    failures: list[str] = []
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        it = iter(bodies)

        async def worker() -> None:
            for body in it:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        failures.append(f"HTTP {resp.status}")

        cpu0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CONCURRENCY))), timeout)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    if failures:
        raise BenchError(f"baseline: {len(failures)} request(s) failed, first: {failures[0]}")
    return elapsed, cpu


# -- hookd -----------------------------------------------------------------------------------------


# A fixed secret: the bench measures the cost of signing, not of keeping secrets.
_BENCH_WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _signing(run_dir: Path, kind: str) -> str:
    """The hook's `signing:` line for --signing, as YAML indented for the hook ("" for none)."""
    if kind == "none":
        return ""
    if kind == "standard":
        return f"    signing: {{type: standard, secret: {_BENCH_WHSEC}}}\n"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = run_dir / "ed25519.pem"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return f'    signing: {{type: standard, private_key: "${{file:{key}}}"}}\n'


def _batch(events: int) -> str:
    """The hook's `batch:` line for --batch N ("" without): batches of N, sent when full (the flood
    fills them at once) or after 50 ms (the tail of the run)."""
    return f"    batch: {{max_events: {events}, max_size: 10MB, max_wait: 50ms}}\n" if events else ""


def write_config(
    run_dir: Path, sock: Path, receiver_url: str, signing: str = "none", batch: int = 0, admin_port: int = 0
) -> Path:
    config = run_dir / "hookd.yaml"
    config.write_text(
        f"""version: 1
storage:
  path: hookd.db
sources:
  - name: bench
    type: socket
    path: "{sock}"
hooks:
  - name: bench
    events: ["*"]
    url: "{receiver_url}/{"batch" if batch else "hook"}"
    concurrency: {CONCURRENCY}
    retry: {{max_attempts: 3}}
{_signing(run_dir, signing)}{_batch(batch)}delivery:
  concurrency: {CONCURRENCY}
admin:
  listen: 127.0.0.1:{admin_port}
"""
    )
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hookd_hooks(command: str, config: Path) -> None:
    """`hookd hooks pause|resume bench`: stored, and told to the daemon through its admin listener."""
    done = subprocess.run(
        [sys.executable, "-m", "hookd", "hooks", command, "bench", "-c", str(config)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if done.returncode != 0 or "the running daemon took it up" not in done.stdout + done.stderr:
        raise BenchError(f"hookd hooks {command} bench failed or did not reach the daemon:\n{done.stdout}{done.stderr}")


class Hookd:
    def __init__(self, run_dir: Path, config: Path, sock: Path, profile_out: Path | None) -> None:
        self.run_dir = run_dir
        self.config = config
        self.sock = sock
        self.stderr_path = run_dir / "hookd.stderr"
        self.profile_out = profile_out
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        prefix = [sys.executable]
        if self.profile_out is not None:
            prefix += ["-m", "cProfile", "-o", str(self.profile_out)]
        return [*prefix, "-m", "hookd", "serve", "-c", str(self.config), "--log-level", "warning"]

    def start(self) -> None:
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.run_dir,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchError(
                f"hookd exited with status {self.proc.returncode} while the benchmark was running; "
                f"its stderr:\n{tail(self.stderr_path)}"
            )

    async def wait_ready(self) -> float:
        """Wait until the unix socket accepts connections; returns the start-up time in seconds."""
        t0 = time.monotonic()
        while True:
            self.check_alive()
            if self.sock.exists():
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(str(self.sock))
                except OSError:
                    pass
                else:
                    return time.monotonic() - t0
                finally:
                    probe.close()
            if time.monotonic() - t0 > READY_TIMEOUT_S:
                raise BenchError(
                    f"hookd did not accept connections on {self.sock} within {READY_TIMEOUT_S:.0f}s; "
                    f"its stderr:\n{tail(self.stderr_path)}"
                )
            await asyncio.sleep(POLL_S)

    def stop(self) -> tuple[int | None, float]:
        """SIGTERM, wait up to 30 s (then SIGKILL). Returns (exit status or None if killed, seconds)."""
        if self.proc is None:
            return None, 0.0
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None, time.monotonic() - t0
        return rc, time.monotonic() - t0

    def stderr_lines(self) -> list[str]:
        try:
            return self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return []


def check_ack(line: bytes, failures: list[str]) -> None:
    try:
        ack = orjson.loads(line)
    except orjson.JSONDecodeError:
        failures.append(f"unparseable ack {line[:200]!r}")
        return
    if not isinstance(ack, dict) or ack.get("ok") is not True or ack.get("duplicate"):
        failures.append(line[:300].decode(errors="replace"))


async def pump(sock: Path, chunks: Sequence[bytes], expected: int, failures: list[str]) -> float:
    """One connection: write the chunks as fast as hookd reads them while reading acks concurrently.

    Returns the perf_counter time of the last ack.
    """
    reader, writer = await asyncio.open_unix_connection(str(sock), limit=1 << 20)
    try:

        async def write_all() -> None:
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()

        writing = asyncio.create_task(write_all())
        acked = 0
        buf = b""
        last = time.perf_counter()
        try:
            while acked < expected:
                data = await reader.read(1 << 18)
                if not data:
                    if writing.done() and writing.exception() is not None:
                        raise BenchError(f"writing to hookd failed: {writing.exception()!r}")
                    raise BenchError(f"hookd closed a connection after {acked} of {expected} acks")
                last = time.perf_counter()
                buf += data
                lines = buf.split(b"\n")
                buf = lines.pop()
                acked += len(lines)
                for line in lines:
                    check_ack(line, failures)
            await writing
        finally:
            writing.cancel()
        return last
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def ingest(sock: Path, lines: Sequence[bytes], connections: int, chunk: int, timeout: float) -> float:
    """Send `lines` over `connections` pipelined connections; returns the perf_counter time of the last ack."""
    shares = [lines[i::connections] for i in range(connections)]
    chunked = [[b"".join(share[j : j + chunk]) for j in range(0, len(share), chunk)] for share in shares]
    failures: list[str] = []
    try:
        lasts = await asyncio.wait_for(
            asyncio.gather(*(pump(sock, c, len(s), failures) for c, s in zip(chunked, shares, strict=True))),
            timeout,
        )
    except TimeoutError:
        raise BenchError(f"hookd did not acknowledge {len(lines)} events within {timeout:.0f}s") from None
    if failures:
        raise BenchError(f"{len(failures)} event(s) not acknowledged with ok=true; first: {failures[:3]}")
    return max(lasts)


@dataclass
class Latency:
    events: int
    rate: float
    achieved_rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    max_send_lag_ms: float  # how far the sender fell behind its schedule (noise on a busy machine)
    send_end_mono: float = field(default=0.0, repr=False)  # time.monotonic() of the last write
    delivery_lag_ms: float | None = None  # last write -> the receiver got the last of these events


async def paced(sock: Path, lines: Sequence[bytes], rate: float, timeout: float) -> Latency:
    """One connection, one event per write at a steady rate; time from write to ack per event."""
    n = len(lines)
    sent = [0.0] * n
    acked = [0.0] * n
    failures: list[str] = []
    reader, writer = await asyncio.open_unix_connection(str(sock), limit=1 << 20)
    try:

        async def read_acks() -> None:
            for i in range(n):
                line = await reader.readline()
                acked[i] = time.perf_counter()
                if not line:
                    raise BenchError(f"hookd closed the latency connection after {i} of {n} acks")
                check_ack(line.rstrip(b"\n"), failures)

        reading = asyncio.create_task(read_acks())
        max_lag = 0.0
        start = time.perf_counter() + 0.01
        i = 0
        try:
            while i < n:
                now = time.perf_counter()
                due = min(n, int((now - start) * rate) + 1) if now >= start else 0
                if due > i:
                    max_lag = max(max_lag, now - (start + i / rate))
                while i < due:
                    sent[i] = time.perf_counter()
                    writer.write(lines[i])
                    i += 1
                await writer.drain()
                if reading.done():
                    await reading  # raises what went wrong
                    raise BenchError("hookd answered more lines than were sent")
                if i < n:
                    await asyncio.sleep(max(MIN_SLEEP_S, start + i / rate - time.perf_counter()))
            send_end = time.perf_counter()
            send_end_mono = time.monotonic()
            try:
                await asyncio.wait_for(reading, timeout)
            except TimeoutError:
                raise BenchError(f"latency phase: acks missing {timeout:.0f}s after the last send") from None
        finally:
            reading.cancel()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if failures:
        raise BenchError(
            f"latency phase: {len(failures)} event(s) not acknowledged with ok=true; first: {failures[:3]}"
        )
    lat = sorted((a - s) * 1000 for a, s in zip(acked, sent, strict=True))
    return Latency(
        events=n,
        rate=rate,
        achieved_rate=n / max(send_end - sent[0], 1e-9),
        p50_ms=percentile(lat, 50),
        p90_ms=percentile(lat, 90),
        p99_ms=percentile(lat, 99),
        max_ms=lat[-1],
        max_send_lag_ms=max_lag * 1000,
        send_end_mono=send_end_mono,
    )


async def ack_floor(args: argparse.Namespace, workdir: Path, receiver: Receiver) -> Latency:
    """The same paced client against a server that answers every line at once, while another process
    posts the same bodies at the same rate to the receiver: what ack latency the machine itself
    allows under hookd's delivery load, with no hookd. Measured in the same session as hookd's."""
    sock = workdir / "floor.sock"
    n = round(args.rate * args.latency_seconds)
    server = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--ack-server", str(sock)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    load: subprocess.Popen[bytes] | None = None
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], READY_TIMEOUT_S)
        if not ready or server.stdout.readline() != b"READY\n":
            raise BenchError("the ack floor server did not start")
        load = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--post-load",
                f"{receiver.url}/floor",
                f"{args.rate}",
                f"{n + round(args.rate)}",
            ],
            start_new_session=True,
        )
        await asyncio.sleep(0.5)  # the poster is running, as the worker is when the latency phase starts
        return await paced(sock, event_lines(n, offset=2_000_000), args.rate, args.timeout)
    finally:
        for proc in (load, server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(5)


# -- one run ---------------------------------------------------------------------------------------


@dataclass
class RunResult:
    run: int
    events: int
    baseline_rps: float
    baseline_cpu_us_per_req: float
    hookd_eps: float
    ratio: float
    ingest_ack_eps: float
    hookd_cpu_us_per_event: float | None
    daemon_cpu_us_per_event: float | None  # of hookd_cpu_us_per_event: the daemon process
    worker_cpu_us_per_event: float | None  # and its delivery worker
    receiver_cpu_us_per_event: float | None
    baseline_receiver_cpu_us_per_req: float | None
    startup_s: float
    rss_at_ready_mb: float | None
    latency: Latency | None
    peak_rss_mb: float | None
    stop_s: float
    exit_status: int | None
    hookd_log_lines: int
    hookd_log_tail: list[str] = field(default_factory=list)


async def one_run(args: argparse.Namespace, run: int, workdir: Path, receiver: Receiver) -> RunResult:
    n = args.events
    bodies = envelope_bodies(n)
    lines = event_lines(n, offset=run * 1_000_000)
    paced_lines = event_lines(int(args.rate * args.latency_seconds), offset=run * 1_000_000 + 500_000)

    # Baseline: the bare client against the same receiver.
    await receiver.reset()
    receiver_cpu0 = receiver.cpu_s()
    b_elapsed, b_cpu = await baseline(receiver.url + "/baseline", bodies, args.timeout)
    baseline_receiver_us = us_per(receiver_cpu0, receiver.cpu_s(), n)
    got = await receiver.count()
    if got["count"] != n:
        raise BenchError(f"baseline: the receiver counted {got['count']} POSTs, expected {n}")
    baseline_rps = n / b_elapsed
    del bodies

    # hookd: fresh directory, database and daemon for every run.
    run_dir = workdir / str(run)
    run_dir.mkdir()
    sock = run_dir / "s.sock"
    if len(str(sock).encode()) > MAX_UNIX_PATH:
        raise BenchError(f"unix socket path {sock} is longer than {MAX_UNIX_PATH} bytes; set TMPDIR to a short path")
    # Batched: the backlog is stored with the hook paused, then resumed (`hookd hooks`, which tells the
    # daemon through its admin listener: a fixed port), and the figure is the rate the stored backlog is
    # delivered at, first request to last. With events arriving as they are sent, a batched hook can
    # only deliver as fast as ingest takes them in, which measures ingest, not batching.
    admin_port = free_port() if args.batch else 0
    config = write_config(run_dir, sock, receiver.url, args.signing, args.batch, admin_port)
    key = "events" if args.batch else "count"  # batched: the receiver counts the items of each array
    profile_out = Path(f"{args.profile}.{run}") if args.profile else None
    hookd = Hookd(run_dir, config, sock, profile_out)
    await receiver.reset()
    hookd.start()
    try:
        startup_s = await hookd.wait_ready()
        ready_rss = tree_status_kb(hookd.pid, "VmRSS")

        cpu0 = tree_cpu_s(hookd.pid)
        receiver_cpu0 = receiver.cpu_s()
        if args.batch:
            hookd_hooks("pause", config)
        t0_mono = time.monotonic()
        t0 = time.perf_counter()
        last_ack = await ingest(sock, lines, args.connections, args.chunk, args.timeout)
        ingest_ack_eps = n / (last_ack - t0)
        if args.batch:
            if (early := (await receiver.count())["count"]) != 0:
                raise BenchError(f"batched: {early} request(s) went out while the hook was paused")
            hookd_hooks("resume", config)
        got = await receiver.wait_for(n, args.timeout, "hookd throughput phase", hookd.check_alive, key=key)
        cpu1 = tree_cpu_s(hookd.pid)
        receiver_cpu1 = receiver.cpu_s()
        # The receiver stamps each POST with time.monotonic(), the same clock as t0_mono.
        hookd_elapsed = got["last"] - (got["first"] if args.batch else t0_mono)
        hookd_eps = n / hookd_elapsed
        split = cpu_split_us(cpu0, cpu1, hookd.pid, n) if cpu0 is not None and cpu1 is not None else None
        receiver_us = us_per(receiver_cpu0, receiver_cpu1, n)

        latency: Latency | None = None
        if paced_lines:
            latency = await paced(sock, paced_lines, args.rate, args.timeout)
            got = await receiver.wait_for(
                n + len(paced_lines), args.timeout, "hookd latency phase", hookd.check_alive, key=key
            )
            latency.delivery_lag_ms = (got["last"] - latency.send_end_mono) * 1000

        hwm = tree_status_kb(hookd.pid, "VmHWM")
        peak_rss_mb = hwm / 1024 if hwm is not None else None
    except BaseException as e:
        rc, _ = hookd.stop()
        status = "was killed (no exit within 30s of SIGTERM)" if rc is None else f"exit status {rc}"
        log(f"hookd (run {run}) after the failure: {status}")
        if "stderr" not in str(e):
            log(f"hookd stderr tail:\n{tail(hookd.stderr_path)}")
        raise
    rc, stop_s = hookd.stop()
    final = await receiver.count()
    expected = n + len(paced_lines)
    problems = []
    if rc != 0:
        problems.append(
            "hookd was killed: it did not exit within 30s of SIGTERM"
            if rc is None
            else f"hookd exited with status {rc} after SIGTERM (expected 0)"
        )
    if final[key] != expected:
        problems.append(f"the receiver counted {final[key]} deliveries for {expected} events")
    distinct = "distinct_event_ids" if args.batch else "distinct_webhook_ids"  # batched: a webhook-id per batch
    if final[distinct] != expected:
        problems.append(f"{final[distinct]} distinct event ids for {expected} events")
    stderr_lines = hookd.stderr_lines()
    if problems:
        raise BenchError(f"run {run}: " + "; ".join(problems) + f"\nhookd stderr tail:\n{tail(hookd.stderr_path)}")
    return RunResult(
        run=run,
        events=n,
        baseline_rps=baseline_rps,
        baseline_cpu_us_per_req=b_cpu / n * 1e6,
        hookd_eps=hookd_eps,
        ratio=hookd_eps / baseline_rps,
        ingest_ack_eps=ingest_ack_eps,
        hookd_cpu_us_per_event=sum(split) if split is not None else None,
        daemon_cpu_us_per_event=split[0] if split is not None else None,
        worker_cpu_us_per_event=split[1] if split is not None else None,
        receiver_cpu_us_per_event=receiver_us,
        baseline_receiver_cpu_us_per_req=baseline_receiver_us,
        startup_s=startup_s,
        rss_at_ready_mb=ready_rss / 1024 if ready_rss is not None else None,
        latency=latency,
        peak_rss_mb=peak_rss_mb,
        stop_s=stop_s,
        exit_status=rc,
        hookd_log_lines=len(stderr_lines),
        hookd_log_tail=stderr_lines[-20:],
    )


def fmt(value: float | None, spec: str = ".0f") -> str:
    return "n/a" if value is None else format(value, spec)


def print_run(r: RunResult) -> None:
    log(
        f"run {r.run}: baseline_rps={r.baseline_rps:.0f} hookd_eps={r.hookd_eps:.0f} ratio={r.ratio:.2f} "
        f"ingest_ack_eps={r.ingest_ack_eps:.0f} hookd_cpu_us_per_event={fmt(r.hookd_cpu_us_per_event)} "
        f"baseline_cpu_us_per_req={r.baseline_cpu_us_per_req:.0f}"
    )
    log(
        f"       cpu_us_per_event: daemon={fmt(r.daemon_cpu_us_per_event)} worker={fmt(r.worker_cpu_us_per_event)} "
        f"receiver={fmt(r.receiver_cpu_us_per_event)} (baseline: receiver={fmt(r.baseline_receiver_cpu_us_per_req)})"
    )
    if r.latency is not None:
        lat = r.latency
        log(
            f"       ack latency at {lat.rate:.0f}/s x {lat.events}: p50={lat.p50_ms:.2f}ms p90={lat.p90_ms:.2f}ms "
            f"p99={lat.p99_ms:.2f}ms max={lat.max_ms:.1f}ms (achieved {lat.achieved_rate:.0f}/s, "
            f"max send lag {lat.max_send_lag_ms:.1f}ms, last delivery {fmt(lat.delivery_lag_ms)}ms after last send)"
        )
    log(
        f"       peak_rss_mb={fmt(r.peak_rss_mb, '.1f')} rss_at_ready_mb={fmt(r.rss_at_ready_mb, '.1f')} "
        f"startup_s={r.startup_s:.2f} "
        f"sigterm_exit={r.exit_status} in {r.stop_s:.2f}s hookd_log_lines={r.hookd_log_lines}"
    )
    if r.hookd_log_lines:
        log("       hookd logged (warning level and above) -- look at this:")
        for line in r.hookd_log_tail:
            log(f"         | {line}")


def median_of(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="hookd-bench-", dir=args.tmpdir))
    receiver = Receiver(workdir)
    try:
        receiver.start()
        await receiver.open()
        log(
            f"hookd bench: events={args.events} runs={args.runs} connections={args.connections} chunk={args.chunk} "
            f"concurrency={CONCURRENCY} rate={args.rate:g}/s latency_seconds={args.latency_seconds:g} "
            f"signing={args.signing} batch={args.batch} loop={loop_name()} cpus={os.cpu_count()} hookd={git_head()}"
            f" receiver={receiver.url}"
        )
        if args.profile:
            log(f"profiling hookd with cProfile into {args.profile}.<run>: the figures are NOT comparable")
        results = []
        for run in range(1, args.runs + 1):
            r = await one_run(args, run, workdir, receiver)
            print_run(r)
            results.append(r)
        floor: Latency | None = None
        if args.latency_seconds > 0:
            floor = await ack_floor(args, workdir, receiver)
            log(
                f"ack floor at {args.rate:g}/s x {floor.events} (a server that answers at once, while a bare client "
                f"posts at the same rate): p50={floor.p50_ms:.2f}ms p90={floor.p90_ms:.2f}ms "
                f"p99={floor.p99_ms:.2f}ms max={floor.max_ms:.1f}ms (max send lag {floor.max_send_lag_ms:.1f}ms)"
            )
    finally:
        await receiver.close()
        receiver.stop()
        if args.keep_tmp:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    lat = [r.latency for r in results if r.latency is not None]
    rss = [r.peak_rss_mb for r in results if r.peak_rss_mb is not None]
    summary = {
        "ratio_median": statistics.median(r.ratio for r in results),
        "ratio_min": min(r.ratio for r in results),
        "ratio_max": max(r.ratio for r in results),
        "baseline_rps": statistics.median(r.baseline_rps for r in results),
        "hookd_eps": statistics.median(r.hookd_eps for r in results),
        "ingest_ack_eps": statistics.median(r.ingest_ack_eps for r in results),
        "hookd_cpu_us_per_event": median_of([r.hookd_cpu_us_per_event for r in results]),
        "baseline_cpu_us_per_req": statistics.median(r.baseline_cpu_us_per_req for r in results),
        "ack_p50_ms": median_of([x.p50_ms for x in lat]),
        "ack_p99_ms": median_of([x.p99_ms for x in lat]),
        "peak_rss_mb": max(rss) if rss else None,
        "ack_floor_p50_ms": floor.p50_ms if floor is not None else None,
        "ack_floor_p99_ms": floor.p99_ms if floor is not None else None,
    }
    log("")
    if args.batch:
        log(
            f"batched scenario (--batch {args.batch}): ratio = events/s at which a stored backlog is delivered in "
            "batches (first request to last) / the bare client's requests/s, one event each (target >= 5, goal 8)"
        )
    log(f"summary ({len(results)} run(s) of {args.events} events; medians across runs, peak_rss_mb is the max):")
    log(
        f"ratio_median={summary['ratio_median']:.2f} baseline_rps={summary['baseline_rps']:.0f} "
        f"hookd_eps={summary['hookd_eps']:.0f} ack_p50_ms={fmt(summary['ack_p50_ms'], '.2f')} "
        f"ack_p99_ms={fmt(summary['ack_p99_ms'], '.2f')} peak_rss_mb={fmt(summary['peak_rss_mb'], '.1f')}"
    )
    log(
        f"ratio_range={summary['ratio_min']:.2f}..{summary['ratio_max']:.2f} "
        f"ingest_ack_eps={summary['ingest_ack_eps']:.0f} "
        f"hookd_cpu_us_per_event={fmt(summary['hookd_cpu_us_per_event'])} "
        f"baseline_cpu_us_per_req={summary['baseline_cpu_us_per_req']:.0f}"
    )
    if floor is not None:
        log(f"ack_floor_p50_ms={floor.p50_ms:.2f} ack_floor_p99_ms={floor.p99_ms:.2f}")
    return {
        "summary": summary,
        "runs": [asdict(r) for r in results],
        "settings": {
            "events": args.events,
            "runs": args.runs,
            "connections": args.connections,
            "chunk": args.chunk,
            "concurrency": CONCURRENCY,
            "rate": args.rate,
            "latency_seconds": args.latency_seconds,
            "batch": args.batch,
            "loop": loop_name(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "aiohttp": aiohttp.__version__,
            "hookd": hookd_version(),
            "git": git_head(),
        },
    }


def git_head() -> str:
    """The commit of the checkout this script is in (+dirty), to tell runs of different code apart."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "hookd"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def hookd_version() -> str:
    try:
        out = subprocess.run(
            [sys.executable, "-m", "hookd", "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


# -- command line ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark hookd serve against a bare aiohttp client posting the same bodies to the same "
        "local receiver, in the same run. The figure is the ratio: delivered events/s through hookd / "
        "bare client requests/s.",
        epilog="See bench/README.md for what each figure means.",
    )
    p.add_argument("--events", type=int, default=None, help="events per throughput run (default 20000; quick 3000)")
    p.add_argument("--runs", type=int, default=None, help="baseline + hookd runs, median reported (default 3; quick 1)")
    p.add_argument("--rate", type=float, default=2000.0, help="events/s in the ack latency phase (default 2000)")
    p.add_argument("--latency-seconds", type=float, help="ack latency phase length, 0 skips it (default 5; quick 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3000 events, 1 run, 2 s latency phase")
    p.add_argument("--connections", type=int, default=4, help="socket connections in the throughput phase (default 4)")
    p.add_argument("--chunk", type=int, default=256, help="lines per write in the throughput phase (default 256)")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds allowed per phase before failing (default 120)"
    )
    p.add_argument(
        "--signing",
        choices=("none", "standard", "ed25519"),
        default="none",
        help="sign hookd's requests: standard (HMAC, one whsec_ secret) or ed25519 (v1a); the baseline never signs",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=0,
        metavar="N",
        help="batched scenario: the hook sends batches of N events (batch: {max_events: N}); hookd_eps counts "
        "events delivered, against the bare client's one request per event (target ratio >= 5, goal 8)",
    )
    p.add_argument("--json", metavar="PATH", help="also write all figures as JSON to PATH ('-' for stdout)")
    p.add_argument("--profile", metavar="PREFIX", help="run hookd under cProfile into PREFIX.<run> (slows it down)")
    p.add_argument("--tmpdir", default="/tmp", help="parent of the temp dir; keep it short (unix socket path limit)")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (config, database, hookd stderr)")
    p.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)  # internal: the receiver process
    p.add_argument("--ack-server", metavar="PATH", help=argparse.SUPPRESS)  # internal: the ack floor's server
    p.add_argument("--post-load", nargs=3, metavar=("URL", "RATE", "N"), help=argparse.SUPPRESS)  # internal
    args = p.parse_args(argv)
    if args.events is None:
        args.events = 3000 if args.quick else 20000
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.latency_seconds is None:
        args.latency_seconds = 2.0 if args.quick else 5.0
    if args.events < args.connections or args.runs < 1 or args.connections < 1 or args.chunk < 1:
        p.error("need --runs >= 1, --connections >= 1, --chunk >= 1 and --events >= --connections")
    if args.batch < 0:
        p.error("need --batch >= 1 (or 0: no batching)")
    if args.rate <= 0 or args.latency_seconds < 0:
        p.error("need --rate > 0 and --latency-seconds >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.receiver:
        receiver_main()
        return 0
    if args.ack_server:
        ack_server_main(args.ack_server)
        return 0
    if args.post_load:
        url, rate, n = args.post_load
        post_load_main(url, float(rate), int(n))
        return 0
    if not sys.platform.startswith("linux"):
        log("warning: peak RSS and CPU figures come from /proc and are Linux-only")
    try:
        report = run_loop(bench(args))
    except BenchError as e:
        print(f"\nBENCHMARK FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    if args.json:
        data = orjson.dumps(report, option=orjson.OPT_INDENT_2)
        if args.json == "-":
            sys.stdout.write(data.decode() + "\n")
        else:
            Path(args.json).write_bytes(data + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
