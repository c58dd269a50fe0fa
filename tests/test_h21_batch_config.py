"""Batching (issue 21): the `batch:` block as validate checks it and `hookd test` shows it, and how a
Batcher forms batches (pure, on the time it is given)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
from typer.testing import CliRunner

import hookd.cli.test_cmd
import hookd.cli.validate  # noqa: F401  registers `hookd validate`
from hookd.batching import Batcher
from hookd.cli.app import app
from hookd.config.load import load_config
from hookd.config.model import BatchConfig
from hookd.router import Router
from hookd.store.base import BatchCandidates, DueDelivery
from tests.cli_helpers import plain

runner = CliRunner()


def write(tmp_path: Path, hook_extra: str, *, url: str = "http://127.0.0.1:9/in") -> Path:
    path = tmp_path / "hookd.yaml"
    path.write_text(
        f"version: 1\nhooks:\n  - name: b\n    events: ['*']\n    url: '{url}'\n{hook_extra}",
        encoding="utf-8",
    )
    return path


def test_a_batch_block_loads_with_units_and_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "    batch: {max_events: 50, max_size: 256KiB, payload: {items: '{{ events }}'}}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    (hook,) = load_config(path).hooks
    assert hook.batch == BatchConfig(max_events=50, max_size=256 * 1024, max_wait_s=2.0,
                                     payload={"items": "{{ events }}"})  # fmt: skip
    assert load_config(write(tmp_path, "    batch: {}\n")).hooks[0].batch == BatchConfig()
    assert load_config(write(tmp_path, "")).hooks[0].batch is None


def test_validate_names_each_batch_problem_at_its_place(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "    headers: {X-Type: '{{ type }}'}\n"
        "    batch:\n"
        "      max_events: 0\n"
        "      max_size: 0KB\n"
        "      max_wait: soon\n"
        "      payload: {items: '{{ events[ }}'}\n",
        url="http://127.0.0.1:9/{{ data.tenant }}",
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    out = plain(result.output)
    expected = [
        f"{path}:5:10: error: hooks[0] (name='b').url: a batched hook sends many events in one request, so its url "
        "cannot depend on an event",
        f"{path}:6:23: error: hooks[0] (name='b').headers.X-Type: a batched hook sends many events in one request, "
        "so header X-Type cannot depend on an event",
        f"{path}:8:19: error: hooks[0] (name='b').batch.max_events:",
        f"{path}:9:17: error: hooks[0] (name='b').batch.max_size: 0 bytes leave no room for any event",
        f"{path}:10:17: error: hooks[0] (name='b').batch.max_wait:",
        f"{path}:11:24: error: hooks[0] (name='b').batch.payload.items: in {{{{ events[ }}}}",
    ]
    lines = out.splitlines()
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, out)


def test_hookd_test_shows_a_batched_hooks_request_as_a_batch_of_the_one_event(tmp_path: Path) -> None:
    path = write(tmp_path, "    payload: {id: '{{ id }}'}\n    batch: {max_events: 10}\n")
    result = runner.invoke(app, ["test", "-c", str(path), "--type", "order.created", "--json"])
    assert result.exit_code == 0, result.output
    (hook,) = orjson.loads(result.output)["events"][0]["hooks"]
    event_id = orjson.loads(result.output)["events"][0]["event"]["id"]
    assert hook["request"]["body"] == [{"id": event_id}]
    assert hook["request"]["headers"]["webhook-id"] != event_id  # a batch id, as the daemon sends
    text = plain(runner.invoke(app, ["test", "-c", str(path), "--type", "order.created"]).output)
    assert "b: matched (batched: shown as a batch of this one event)" in text


def due(i: int, body: bytes) -> DueDelivery:
    return DueDelivery(id=f"d{i}", event_id=f"e{i}", hook="b", attempt=0, body=body, replay_of=None)


def batcher(tmp_path: Path, batch: str, hook_extra: str = "") -> Batcher:
    settings = load_config(write(tmp_path, f"    batch: {batch}\n{hook_extra}"))
    return Batcher(Router(settings.hooks).hooks[0])


def candidates(bodies: list[bytes], created_at: list[float]) -> BatchCandidates:
    return BatchCandidates(due=tuple(due(i, b) for i, b in enumerate(bodies)), created_at=tuple(created_at),
                           retry_at=None, later_at=None)  # fmt: skip


def test_form_closes_at_max_events_and_max_size_and_waits_for_max_wait(tmp_path: Path) -> None:
    b = batcher(tmp_path, "{max_events: 3, max_size: 20B, max_wait: 5s}")
    four = [b'{"n":1}', b'{"n":2}', b'{"n":3}', b'{"n":4}']  # 7 bytes each: [a,b] is 17, [a,b,c] 25
    formed = b.form(candidates(four, [100.0] * 4), now=101.0, units=10)
    assert [[d.id for d in g] for g in formed.batches] == [["d0", "d1"]]  # closed: a third would pass 20 bytes
    assert formed.wait_until == 105.0  # the last two wait out max_wait

    b = batcher(tmp_path, "{max_events: 3, max_wait: 5s}")
    formed = b.form(candidates(four, [100.0, 101.0, 102.0, 103.0]), now=104.0, units=10)
    assert [[d.id for d in g] for g in formed.batches] == [["d0", "d1", "d2"]]
    assert formed.wait_until == 108.0  # the fourth waits 5 s from when it was stored
    formed = b.form(candidates(four[3:], [103.0]), now=108.0, units=10)
    assert [[d.id for d in g] for g in formed.batches] == [["d0"]] and formed.wait_until is None
    formed = b.form(candidates(four[3:], [103.0]), now=104.0, units=10, flush=True)  # replay --wait
    assert len(formed.batches) == 1


def test_a_delivery_split_off_a_batch_does_not_wait_out_max_wait_again(tmp_path: Path) -> None:
    """Five deliveries stored at 100 filled a batch at once; the receiver answered 413 and the split
    halved max_events to 2. At 100.5 the five are candidates again, each sent once (attempt 1): two
    batches of two and the last one alone all go now, none waiting until 105 for company."""
    b = batcher(tmp_path, "{max_events: 5, max_wait: 5s}")
    b.split(5)
    five = candidates([b'{"n":%d}' % i for i in range(5)], [100.0] * 5)
    resent = dataclasses.replace(five, due=tuple(dataclasses.replace(d, attempt=1) for d in five.due))
    formed = b.form(resent, now=100.5, units=10)
    assert [[d.id for d in g] for g in formed.batches] == [["d0", "d1"], ["d2", "d3"], ["d4"]]
    assert formed.wait_until is None
    formed = b.form(five, now=100.5, units=10)  # never sent: the last waits out max_wait as always
    assert [[d.id for d in g] for g in formed.batches] == [["d0", "d1"], ["d2", "d3"]]
    assert formed.wait_until == 105.0


def test_form_sends_a_payload_larger_than_max_size_alone_and_keeps_to_the_units(tmp_path: Path) -> None:
    b = batcher(tmp_path, "{max_events: 2, max_size: 10B, max_wait: 0s}")
    formed = b.form(candidates([b'"a"', b'"' + b"x" * 20 + b'"', b'"b"', b'"c"', b'"d"'], [1.0] * 5), now=1.0,
                    units=2)  # fmt: skip
    assert [[d.id for d in g] for g in formed.batches] == [["d0"], ["d1"]]
    assert b.body([b'"a"', b'"b"']) == b'["a","b"]'


def test_an_event_the_payload_fails_on_is_left_out_to_fail_alone(tmp_path: Path) -> None:
    b = batcher(tmp_path, "{max_events: 5, max_wait: 0s}", "    payload: {n: '{{ length(data.v) }}'}\n")
    bodies = [orjson.dumps({"id": f"e{i}", "data": {"v": v}}) for i, v in enumerate(["ab", 7, "abc"])]
    formed = b.form(candidates(bodies, [1.0] * 3), now=1.0, units=1)
    assert [d.id for d in formed.singles] == ["d1"]
    ((first, third),) = formed.batches
    assert b.body([b.item(first), b.item(third)]) == b'[{"n":2},{"n":3}]'
