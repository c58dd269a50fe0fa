"""`hookd why`: a live event's verdicts from the router's own explain path, with its deliveries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, event_line, running_daemon, send_lines, socket_config, wait_db

HOOKS = """
hooks:
  - name: big-orders
    events: ["order.*"]
    filter: "data.amount > `100`"
    url: {url}
  - name: invoices
    events: ["invoice.*"]
    url: {url}
"""


async def stored(short_dir: Path, receiver: Receiver) -> Path:
    cfg = socket_config(short_dir, HOOKS.format(url=receiver.url("/in")))
    async with running_daemon(cfg):
        await send_lines(
            short_dir / "s.sock",
            [event_line(id="small-1", data={"amount": 50}), event_line(id="big-1", data={"amount": 500})],
        )
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda rows: rows == [("delivered",)])
    return cfg


async def test_why_explains_a_matched_and_an_unmatched_event(short_dir: Path, receiver: Receiver) -> None:
    """Two live events, one under the filter's amount. Result: for the small one, the filter part that
    was false with the value it saw, and the glob the other hook wants; for the big one, matched and
    its delivery delivered after one attempt; and the config it was routed with is this one."""
    cfg = await stored(short_dir, receiver)
    small = await hookd("why", "small-1", "-c", str(cfg))
    assert small.exit_code == 0, small.output
    text = plain(small.output)
    assert "big-orders: not matched, filter is false:" in text
    assert "data.amount > `100` is false (data.amount = 50)" in text
    assert "invoices: not matched: type 'order.created'" in text
    assert "routed with this very config" in text
    big = plain((await hookd("why", "big-1", "-c", str(cfg))).output)
    assert "big-orders: matched" in big
    assert "delivered after 1 attempt(s); last attempt" in big and "HTTP 200" in big


async def test_why_says_when_the_config_changed_since_and_reads_json(short_dir: Path, receiver: Receiver) -> None:
    """The filter changes after the event was routed. Result: why says the config changed and gives
    the verdict of the config of now (matched now), beside the deliveries that happened (none)."""
    cfg = await stored(short_dir, receiver)
    cfg.write_text(cfg.read_text().replace("`100`", "`10`"))
    result = await hookd("why", "small-1", "-c", str(cfg), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["config"]["changed"] is True
    big_orders = next(h for h in data["hooks"] if h["hook"] == "big-orders")
    assert big_orders["matched"] is True and big_orders["deliveries"] == []
    assert "has changed since" in plain((await hookd("why", "small-1", "-c", str(cfg))).output)


async def test_why_takes_a_prefix_and_says_an_unknown_id(short_dir: Path, receiver: Receiver) -> None:
    cfg = await stored(short_dir, receiver)
    assert (await hookd("why", "big-", "-c", str(cfg))).exit_code == 0
    unknown = await hookd("why", "nope-404", "-c", str(cfg))
    assert unknown.exit_code == 1
    assert "nope-404" in plain(unknown.output)


async def test_why_explains_an_inbound_event_with_its_request(tmp_path: Path, receiver: Receiver) -> None:
    """An http source's event, and a hook whose filter reads request.params. Result: why evaluates the
    filter on the stored request, as the router did."""
    from tests.test_h23_http_source import client, github_config, github_headers, source_url

    hooks = f"""
          - name: acme-only
            events: ["github.*"]
            filter: "request.params.tenant == 'acme'"
            url: {receiver.url("/out")}
    """
    cfg = github_config(tmp_path, receiver, hooks=hooks)
    async with running_daemon(cfg) as daemon:
        body = b'{"action": "opened"}'
        url = source_url(daemon, "/hooks/other/github")
        async with client() as http, http.post(url, data=body, headers=github_headers(body, delivery="w-1")) as r:
            assert r.status == 202
    text = plain((await hookd("why", "w-1", "-c", str(cfg))).output)
    assert "acme-only: not matched, filter is false:" in text
    assert "request.params.tenant == 'acme' is false (request.params.tenant = \"other\")" in text


async def test_why_and_test_hide_the_configs_secrets_in_their_explanations(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook whose filter compares with a ${VAR} secret; an event whose data and type hold the secret.
    Result: `why` (text and --json) and `hookd test` explain the false filter with the secret shown
    as its reference, never its value; `history show` shows the event that way too."""
    secret = "recvtoken-SUPERSECRET-0123456789"
    monkeypatch.setenv("RECV_TOKEN", secret)
    hooks = f"""
    hooks:
      - name: keyed
        events: ["order.*"]
        filter: "data.key == '${{RECV_TOKEN}}' && data.n > `5`"
        url: {receiver.url("/in")}
    """
    cfg = socket_config(short_dir, hooks)
    line = json.dumps({"id": f"s-1{secret}", "type": f"order.{secret}", "data": {"key": {"a": secret}, "n": 1}})
    line = line.encode()
    async with running_daemon(cfg):
        assert (await send_lines(short_dir / "s.sock", [line]))[0]["ok"]
        await wait_db(short_dir / "hookd.db", "SELECT count(*) FROM events", lambda rows: rows == [(1,)])
    shown = await hookd("why", "s-1", "-c", str(cfg))  # a prefix of the id
    as_json = await hookd("why", "s-1", "-c", str(cfg), "--json")
    events = short_dir / "event.json"
    events.write_bytes(line)
    tested = await hookd("test", "-c", str(cfg), str(events))
    history = await hookd("history", "show", "s-1", "-c", str(cfg))
    assert "s-1${RECV_TOKEN}" in plain(shown.output) and "s-1${RECV_TOKEN}" in plain(history.output)

    assert "${RECV_TOKEN}" in plain(history.output)
    for result in (shown, as_json, tested, history):
        assert result.exit_code in (0, 1), result.output
        assert secret not in result.output
    assert "data.key == '${RECV_TOKEN}' is false" in plain(shown.output)
    assert "order.${RECV_TOKEN}" in plain(shown.output)
    assert "${RECV_TOKEN}" in plain(tested.output)
