"""`hookd test`: dry runs, real sends to a local receiver, and config unit tests (--cases).

Through typer's CliRunner on real config files, plus one real process. Sends go to the conftest
Receiver on 127.0.0.1; the CLI runs its own event loop, so those invocations run in a thread while
the test's loop serves the receiver.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import hookd.cli.test_cmd  # noqa: F401  registers `hookd test`
from hookd.cli.app import app
from hookd.dryrun import FilterPart, explain_false
from tests.cli_helpers import plain
from tests.conftest import Receiver, Reply

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-token-value"
runner = CliRunner(env={"TOKEN": SECRET})
# The real entry point, as `python -m hookd`; importing test_cmd first registers the command even
# before hookd.cli.app lists it (then `[sys.executable, "-m", "hookd"]` says the same).
HOOKD = [sys.executable, "-m", "hookd"]

BIG_ORDER = {"id": "evt-7", "type": "order.created", "data": {"id": 7, "total": 250, "status": "paid"}}
SMALL_ORDER = {"id": "evt-8", "type": "order.created", "data": {"id": 8, "total": 42, "status": "paid"}}
USER = {"id": "evt-9", "type": "user.signed_up", "data": {"email": "ada@example.com"}}


def config_text(base: str = "http://127.0.0.1:9") -> str:
    return textwrap.dedent(
        f"""\
        version: 1
        hooks:
          - name: orders
            events: ["order.*"]
            filter: "data.total > `100` && data.status != 'draft'"
            url: {base}/orders
            headers:
              X-Source: hookd
              Authorization: "Bearer ${{TOKEN}}"
            payload:
              order_id: "{{{{ data.id }}}}"
              note: "Order {{{{ data.id }}}}"
          - name: users
            events: ["user.*"]
            url: {base}/users
        """
    )


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*events: object) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write(tmp_path, "hookd.yaml", config_text())


def invoke(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, ["test", *args], input=stdin)


# -- matched or why not ---------------------------------------------------------------------------


def test_matched_hook_shows_the_rendered_request_with_secrets_redacted(config: Path, tmp_path: Path) -> None:
    events = write(tmp_path, "events.jsonl", jsonl(BIG_ORDER))
    result = invoke("-c", str(config), str(events))
    assert result.exit_code == 0, result.output
    out = plain(result.output)
    assert f"event evt-7 order.created ({events}:1)" in out
    assert "  orders: matched" in out
    assert "    POST http://127.0.0.1:9/orders" in out
    assert "    Authorization: ***" in out
    assert "    X-Source: hookd" in out
    assert "    webhook-id: evt-7" in out
    assert "    hookd-attempt: 1" in out
    assert '      "order_id": 7,' in out
    assert '      "note": "Order 7"' in out
    assert "signature" not in out.lower()  # signing is a later issue: no header invented
    assert SECRET not in result.output
    assert "  users: not matched: type 'order.created' matches none of: user.*" in out
    assert out.rstrip().endswith("1 event(s), 1 match(es)")


def test_a_false_filter_names_the_part_that_failed_and_its_value(config: Path, tmp_path: Path) -> None:
    events = write(tmp_path, "events.jsonl", jsonl(SMALL_ORDER))
    result = invoke("-c", str(config), str(events))
    assert result.exit_code == 0, result.output
    lines = plain(result.output).splitlines()
    at = lines.index("  orders: not matched, filter is false:")
    assert lines[at + 1] == "    data.total > `100` is false (data.total = 42)"
    assert "data.status" not in result.output  # that part was true


def test_filter_that_cannot_be_evaluated_is_a_failure_as_in_the_daemon(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        "hookd.yaml",
        "version: 1\nhooks:\n  - {name: n, events: ['*'], filter: 'length(data.n) > `1`', url: 'http://127.0.0.1:9/'}\n",
    )
    result = invoke("-c", str(cfg), "--type", "t", "--data", '{"n": 5}')
    assert result.exit_code == 1, result.output
    assert "n: failed: filter could not be evaluated on this event: In function length()" in plain(result.output)


def test_a_template_that_fails_on_the_event_exits_1(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        "hookd.yaml",
        "version: 1\nhooks:\n  - {name: n, events: ['*'], url: 'http://127.0.0.1:9/',\n"
        "     payload: {x: '{{ length(data.n) }}'}}\n",
    )
    result = invoke("-c", str(cfg), "--type", "t", "--data", '{"n": 5}')
    assert result.exit_code == 1, result.output
    assert (
        "cannot render the request: payload.x: {{ length(data.n) }} could not be evaluated on this event: "
        "In function length()" in " ".join(plain(result.output).split())
    )


EXPLAINED = [
    (
        "data.a > `1` && data.b == 'x'",
        {"a": 0, "b": "y"},
        ["data.a > `1` is false (data.a = 0)", "data.b == 'x' is false (data.b = \"y\")"],
    ),
    ("data.a || data.b", {"a": [], "b": ""}, ["data.a is []", 'data.b is ""']),
    (
        "(data.a > `1` || data.c) && !(data.d)",
        {"a": 0, "d": True},
        ["data.a > `1` is false (data.a = 0)", "data.c is null", "!(data.d) is false (data.d = true)"],
    ),
    # `!data.d` is (!data).d in JMESPath: null, and the explanation shows it as it is.
    ("!data.d", {"d": False}, ["!data.d is null"]),
    ("data.a > `1` && length(data.x) > `0`", {"a": 0}, ["data.a > `1` is false (data.a = 0)"]),
    (
        "data.m > `1`",
        {},
        ["data.m > `1` is null (data.m = null); <, <=, > and >= on a missing or non-number value give null"],
    ),
    ("data.items[?price > `1`] | [0]", {"items": []}, ["data.items[?price > `1`] | [0] is null"]),
    ("contains(data.tags, 'vip')", {"tags": ["a"]}, ["contains(data.tags, 'vip') is false"]),
    ("data.a == `1` && data.b || data.c", {"a": 1}, ["data.b is null", "data.c is null"]),
]


@pytest.mark.parametrize(("expression", "data", "described"), EXPLAINED)
def test_explain_false_takes_filters_apart(expression: str, data: object, described: list[str]) -> None:
    assert [p.describe() for p in explain_false(expression, {"data": data})] == described


def test_explain_false_keeps_values_for_scripts() -> None:
    assert explain_false("data.total > `100` && data.ok", {"data": {"total": 42, "ok": True}}) == (
        FilterPart(expression="data.total > `100`", value=False, kind="comparison", operands=(("data.total", 42),)),
    )


# -- events in ------------------------------------------------------------------------------------


def test_jsonl_array_stdin_and_inline_events(config: Path, tmp_path: Path) -> None:
    lines = write(tmp_path, "events.jsonl", "\n" + jsonl(BIG_ORDER, USER))
    array = write(tmp_path, "events.json", json.dumps([BIG_ORDER, SMALL_ORDER, USER], indent=2))
    one = write(tmp_path, "one.json", json.dumps(USER, indent=2))

    def wheres(result: Result) -> list[tuple[str, str]]:
        assert result.exit_code == 0, result.output
        return [(e["where"], e["event"]["id"]) for e in json.loads(result.stdout)["events"]]

    assert wheres(invoke("-c", str(config), "--json", str(lines))) == [(f"{lines}:2", "evt-7"), (f"{lines}:3", "evt-9")]
    assert wheres(invoke("-c", str(config), "--json", str(array))) == [
        (f"{array}:2", "evt-7"),
        (f"{array}:11", "evt-8"),
        (f"{array}:20", "evt-9"),
    ]
    assert wheres(invoke("-c", str(config), "--json", str(one))) == [(f"{one}:1", "evt-9")]
    assert wheres(invoke("-c", str(config), "--json", "-", stdin=jsonl(USER, BIG_ORDER))) == [
        ("<stdin>:1", "evt-9"),
        ("<stdin>:2", "evt-7"),
    ]

    inline = invoke("-c", str(config), "--json", "--type", "order.paid", "--data", '{"id": 3, "total": 101}')
    assert inline.exit_code == 0, inline.output
    (event,) = json.loads(inline.stdout)["events"]
    assert event["where"] == "--type/--data"
    assert event["event"]["type"] == "order.paid"
    assert event["event"]["data"] == {"id": 3, "total": 101}
    assert event["event"]["id"] and event["event"]["time"].endswith("Z")  # assigned, as the daemon does
    assert [h["matched"] for h in event["hooks"]] == [True, False]


BAD_EVENTS = [
    (
        "bad.jsonl",
        '{"type": "a"}\n{"type": "b",\n{"type": "c"}\n',
        "bad.jsonl:2:14: invalid JSON: the line ends before the value does",
    ),
    (
        "bad.json",
        '{\n  "type": "a",\n  "data": {"x": 1,}\n}\n',
        "bad.json:3:19: invalid JSON: Expecting property name enclosed in double quotes",
    ),
    (
        "bad-array.json",
        '[{"type": "a"},\n {"type": "b"}\n {"type": "c"}]',
        "bad-array.json:3: invalid JSON: expected ',' or ']' after an event in the array",
    ),
    (
        "not-event.jsonl",
        '{"type": "a"}\n{"type": "a", "total": 5}\n',
        "not-event.jsonl:2: unknown top-level field(s) 'total'",
    ),
    ("no-type.jsonl", '{"data": 1}\n', 'no-type.jsonl:1: "type" is missing'),
    ("empty.jsonl", "\n\n", "empty.jsonl: no events in it"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_EVENTS)
def test_bad_events_exit_2_naming_file_and_line(
    config: Path, tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, name, text)
    result = invoke("-c", str(config), str(path))
    assert result.exit_code == 2, result.output
    assert plain(result.stderr).startswith(f"error: {tmp_path}/{message}")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl"], "error: missing.jsonl: the events file does not exist"),
        (["--type", "t", "--data", "{bad"], "error: --data: invalid JSON (unexpected character, expected a string key"),
        (["--data", "{}"], "error: --data needs --type"),
        ([], "error: no events: give EVENT_FILE (- for stdin), or --type TYPE [--data JSON], or --cases FILE"),
        (["--type", "t", "--to", "http://127.0.0.1:9/"], "error: --to only applies with --send"),
        (["--type", "t", "--send", "--to", "ftp://x"], "error: --to takes an http:// or https:// URL"),
        (["--type", "t", "--cases", "x.yaml"], "error: --cases runs the events in the cases file; drop --type"),
    ],
)
def test_usage_errors_exit_2(config: Path, args: list[str], message: str) -> None:
    result = invoke("-c", str(config), *args)
    assert result.exit_code == 2, result.output
    assert plain(result.stderr).startswith(message)


def test_invalid_config_exits_1_and_missing_config_exits_2(tmp_path: Path) -> None:
    bad = write(
        tmp_path, "hookd.yaml", "version: 1\nhooks:\n  - {name: a, events: ['*'], url: 'http://x/', tiemout: 5}\n"
    )
    result = invoke("-c", str(bad), "--type", "t")
    assert result.exit_code == 1, result.output
    assert f"{bad}:3:" in plain(result.stderr) and "unknown key 'tiemout'" in result.stderr
    missing = invoke("-c", str(tmp_path / "nope.yaml"), "--type", "t")
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr


# -- --hook and --json ----------------------------------------------------------------------------


def test_hook_option_restricts_and_unknown_hook_exits_2(config: Path) -> None:
    result = invoke("-c", str(config), "--hook", "users", "--type", "order.created")
    assert result.exit_code == 0, result.output
    out = plain(result.output)
    assert "users: not matched" in out
    assert "orders" not in out

    unknown = invoke("-c", str(config), "--hook", "order", "--type", "order.created")
    assert unknown.exit_code == 2
    assert plain(unknown.stderr).strip() == "error: no hook named 'order' in the config; did you mean 'orders'?"


def test_json_output_shape(config: Path, tmp_path: Path) -> None:
    events = write(tmp_path, "events.jsonl", jsonl(BIG_ORDER, SMALL_ORDER))
    result = invoke("-c", str(config), "--json", str(events))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    first, second = report["events"]
    assert first["event"] == {**BIG_ORDER, "time": first["event"]["time"], "source": None}
    orders, users = first["hooks"]
    assert set(orders) == {
        "hook", "matched", "reason", "failed_at", "filter_parts", "request", "error", "ordering_key", "format",
        "preset", "delivery",
    }  # fmt: skip
    assert orders["matched"] is True and orders["error"] is None and orders["delivery"] is None
    request = orders["request"]
    assert request["method"] == "POST"
    assert request["url"] == "http://127.0.0.1:9/orders"
    assert request["body"] == {"order_id": 7, "note": "Order 7"}
    assert request["headers"]["Authorization"] == "***"
    assert request["headers"]["X-Source"] == "hookd"
    assert request["headers"]["webhook-id"] == "evt-7"
    assert users == {
        "hook": "users",
        "matched": False,
        "reason": "type 'order.created' matches none of: user.*",
        "failed_at": "type",
        "filter_parts": [],
        "request": None,
        "error": None,
        "ordering_key": None,
        "format": None,
        "preset": None,
        "delivery": None,
    }
    small = second["hooks"][0]
    assert small["failed_at"] == "filter"
    assert small["reason"] == "filter is false: data.total > `100` is false (data.total = 42)"
    assert small["filter_parts"] == [
        {"expression": "data.total > `100`", "value": False, "operands": {"data.total": 42}, "error": ""}
    ]
    assert SECRET not in result.output


# -- --send ---------------------------------------------------------------------------------------


async def test_send_delivers_for_real_and_shows_the_answer(receiver: Receiver, tmp_path: Path) -> None:
    cfg = write(tmp_path, "hookd.yaml", config_text(receiver.url("").rstrip("/")))
    receiver.on("/orders", Reply(status=201, body=b'{"received": true}'))
    events = write(tmp_path, "events.jsonl", jsonl(BIG_ORDER, USER))

    result = await asyncio.to_thread(invoke, "-c", str(cfg), "--send", str(events))

    assert result.exit_code == 0, result.output
    (order,) = receiver.at("/orders")
    assert order.json() == {"order_id": 7, "note": "Order 7"}
    assert order.headers["Authorization"] == f"Bearer {SECRET}"  # the real value goes out
    assert order.headers["webhook-id"] == "evt-7"
    assert len(receiver.at("/users")) == 1
    out = plain(result.output)
    assert f"    sent to {receiver.url('/orders')}: 201 in " in out
    assert '    response: {"received": true}' in out
    assert out.rstrip().endswith("2 event(s), 2 match(es), 2 sent")
    assert SECRET not in result.output


async def test_send_failure_exits_1(receiver: Receiver, tmp_path: Path) -> None:
    cfg = write(tmp_path, "hookd.yaml", config_text(receiver.url("").rstrip("/")))
    receiver.on("/orders", Reply(status=500, body=b"boom"))

    result = await asyncio.to_thread(
        invoke, "-c", str(cfg), "--send", "--json", "--type", "order.created", "--data", '{"id": 1, "total": 500}'
    )

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    delivery = report["events"][0]["hooks"][0]["delivery"]
    assert delivery["ok"] is False
    assert delivery["status"] == 500
    assert delivery["error"] == "HTTP 500"
    assert delivery["response"] == "boom"
    assert delivery["url"] == receiver.url("/orders")
    assert isinstance(delivery["duration_ms"], float)


async def test_send_to_overrides_every_hook_url(receiver: Receiver, config: Path, tmp_path: Path) -> None:
    events = write(tmp_path, "events.jsonl", jsonl(BIG_ORDER, USER))  # the config points at port 9: nobody
    target = receiver.url("/inbox")

    result = await asyncio.to_thread(invoke, "-c", str(config), "--send", "--to", target, str(events))

    assert result.exit_code == 0, result.output
    got = receiver.at("/inbox")
    assert got[0].json() == {"order_id": 7, "note": "Order 7"}
    assert [r.headers["webhook-id"] for r in got] == ["evt-7", "evt-9"]
    assert plain(result.output).count(f"sent to {target}: 200") == 2


async def test_send_unreachable_exits_1(config: Path) -> None:
    result = await asyncio.to_thread(invoke, "-c", str(config), "--send", "--type", "user.created")
    assert result.exit_code == 1, result.output
    assert "send failed to http://127.0.0.1:9/users: cannot connect to 127.0.0.1:9" in plain(result.output)


# -- --cases --------------------------------------------------------------------------------------

PASSING = """\
cases:
  - name: a big order goes to orders
    event: {id: e1, type: order.created, data: {id: 7, total: 250, status: paid}}
    expect:
      match: [orders]
      body: {orders: {order_id: 7}}
      headers: {orders: {x-source: hookd, Authorization: "***"}}
      assert:
        orders: ["body.note == 'Order 7'", "headers.\\"webhook-id\\" == 'e1'", "method == 'POST'"]
  - name: a draft goes nowhere
    event: {type: order.created, data: {id: 8, total: 250, status: draft}}
    expect:
      not_match: [orders, users]
  - name: users get the envelope
    event: {id: u1, type: user.signed_up, data: {email: a@example.com}}
    expect:
      match_at_least: [users]
      body: {users: {id: u1, data: {email: a@example.com}}}
"""

FAILING = """\
cases:
  - name: passes
    event: {type: user.signed_up}
    expect: {match: [users]}
  - name: small order expected to match
    event: {type: order.created, data: {id: 8, total: 42, status: paid}}
    expect:
      match: [orders]
  - name: wrong body and assertion
    event: {type: order.created, data: {id: 7, total: 250, status: paid}}
    expect:
      body: {orders: {order_id: "7", note: Order 7}}
      assert: {orders: ["body.order_id > `100`"]}
"""


def test_cases_passing_exit_0(config: Path, tmp_path: Path) -> None:
    cases = write(tmp_path, "hookd.tests.yaml", PASSING)
    result = invoke("-c", str(config), "--cases", str(cases))
    assert result.exit_code == 0, result.output
    assert plain(result.output).splitlines() == [
        "PASS a big order goes to orders",
        "PASS a draft goes nowhere",
        "PASS users get the envelope",
        f"3 passed, 0 failed ({cases})",
    ]


def test_cases_failing_exit_1_with_a_diff(config: Path, tmp_path: Path) -> None:
    cases = write(tmp_path, "hookd.tests.yaml", FAILING)
    result = invoke("-c", str(config), "--cases", str(cases))
    assert result.exit_code == 1, result.output
    assert plain(result.output).splitlines() == [
        "PASS passes",
        f"FAIL small order expected to match ({cases}:5)",
        f"  {cases}:8: match: orders did not match: filter is false: data.total > `100` is false (data.total = 42)",
        "    --- expected",
        "    +++ actual",
        "    @@ -1 +0,0 @@",
        "    -orders",
        f"FAIL wrong body and assertion ({cases}:9)",
        f"  {cases}:12: body of orders: the body does not contain the expected values",
        "    --- expected",
        "    +++ actual",
        "    @@ -1,2 +1,2 @@",
        '    -order_id: "7"',
        "    +order_id: 7",
        '     note: "Order 7"',
        f"  {cases}:13: assert on orders: body.order_id > `100` is false (body.order_id = 7)",
        f"1 passed, 2 failed ({cases})",
    ]

    as_json = invoke("-c", str(config), "--cases", str(cases), "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["passed"], report["failed"]) == (False, 1, 2)
    assert report["cases"][1]["failures"] == [
        {
            "line": 8,
            "check": "match",
            "message": "orders did not match: filter is false: data.total > `100` is false (data.total = 42)",
            "diff": "--- expected\n+++ actual\n@@ -1 +0,0 @@\n-orders",
        }
    ]


def test_not_match_failure_says_why_the_hook_matched(config: Path, tmp_path: Path) -> None:
    cases = write(
        tmp_path,
        "t.yaml",
        "cases:\n  - name: n\n    event: {type: order.paid, data: {total: 500}}\n    expect: {not_match: [orders]}\n",
    )
    result = invoke("-c", str(config), "--cases", str(cases))
    assert result.exit_code == 1, result.output
    assert (
        f"  {cases}:4: not_match: orders matched, but should not: type 'order.paid' is in its events (order.*) "
        "and its filter data.total > `100` && data.status != 'draft' is true"
    ) in plain(result.output)


def test_malformed_cases_file_exits_2_with_every_problem_located(config: Path, tmp_path: Path) -> None:
    cases = write(
        tmp_path,
        "hookd.tests.yaml",
        textwrap.dedent(
            """\
            cases:
              - name: typo
                evnt: {type: a}
                expect:
                  match: [order]
                  asert: {orders: [x]}
              - name: bad values
                event: {type: a, time: 2026-01-31T12:00:00Z}
                expect:
                  match: [users]
                  body: {orders: {a: 1}}
                  assert: {users: ["a = b"]}
            """
        ),
    )
    result = invoke("-c", str(config), "--cases", str(cases))
    assert result.exit_code == 2, result.output
    assert plain(result.stderr).splitlines() == [
        f"{cases}:2:5: error: cases[0] (name='typo'): `event` is missing; write it like "
        "{type: order.created, data: {id: 7}}",
        f"{cases}:3:5: error: cases[0] (name='typo').evnt: unknown key 'evnt'; did you mean 'event'?",
        f"{cases}:5:15: error: cases[0] (name='typo').expect.match[0]: no hook named 'order' in the config; "
        "did you mean 'orders'?",
        f"{cases}:6:7: error: cases[0] (name='typo').expect.asert: unknown key 'asert'; did you mean 'assert'?",
        f"{cases}:8:28: error: cases[1] (name='bad values').event.time: YAML reads this as a date, which JSON has "
        "no form for; quote it to keep it as text",
        f"{cases}:11:14: error: cases[1] (name='bad values').expect.body.orders: 'orders' is expected not to "
        "match, so it sends no request to check",
        f"{cases}:12:24: error: cases[1] (name='bad values').expect.assert.users[0]: JMESPath syntax error at "
        "column 3: Unknown token '='; compare with == (two equals signs)",
        "7 problem(s) in the cases file; fix them and run again.",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cases: [\n", ":2:1: error: YAML syntax error"),
        ("tests: []\n", ":1:1: error: tests: unknown key 'tests'"),
        ("cases: []\n", ":1:8: error: cases: `cases` must be a list with at least one case"),
    ],
)
def test_cases_file_structure_errors(config: Path, tmp_path: Path, text: str, message: str) -> None:
    cases = write(tmp_path, "t.yaml", text)
    result = invoke("-c", str(config), "--cases", str(cases))
    assert result.exit_code == 2, result.output
    assert plain(result.stderr).startswith(f"{cases}{message}")


def test_missing_cases_file_exits_2(config: Path, tmp_path: Path) -> None:
    result = invoke("-c", str(config), "--cases", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert plain(result.stderr).startswith(f"{tmp_path}/nope.yaml: error: the cases file does not exist")


# Every example that ships cases, found on disk: a new example is tested without a line here.
EXAMPLE_CASES = sorted(path.parent for path in REPO.glob("examples/*/hookd.tests.yaml"))


@pytest.mark.parametrize("directory", EXAMPLE_CASES, ids=[directory.name for directory in EXAMPLE_CASES])
def test_bundled_example_cases_pass(directory: Path) -> None:
    result = invoke("-c", str(directory / "hookd.yaml"), "--cases", str(directory / "hookd.tests.yaml"))
    assert result.exit_code == 0, result.output
    assert " 0 failed " in plain(result.output)


# -- a real process -------------------------------------------------------------------------------


def test_real_process(config: Path, tmp_path: Path) -> None:
    """1. Write a config and a JSONL file with one good and one broken line.
    2. Run the hookd entry point in a subprocess on the good line, then on the file.
    Result: exit 0 with the verdicts; then exit 2 with file:line on stderr and no traceback."""
    good = write(tmp_path, "good.jsonl", jsonl(BIG_ORDER))
    bad = write(tmp_path, "bad.jsonl", jsonl(BIG_ORDER) + "{oops\n")
    env = {**os.environ, "TOKEN": SECRET, "NO_COLOR": "1"}

    ok = subprocess.run([*HOOKD, "test", "-c", str(config), str(good)], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "orders: matched" in plain(ok.stdout)
    assert "Authorization: ***" in plain(ok.stdout)
    assert SECRET not in ok.stdout

    broken = subprocess.run([*HOOKD, "test", "-c", str(config), str(bad)], capture_output=True, text=True, env=env)
    assert broken.returncode == 2
    assert (
        plain(broken.stderr).strip()
        == f"error: {bad}:2:2: invalid JSON: Expecting property name enclosed in double quotes"
    )
    assert "Traceback" not in broken.stderr
