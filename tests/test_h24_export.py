"""`hookd history export --as-test`: real stored events become cases that pass now and fail after a
config change that alters their routing or rendering; secrets never appear."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import yaml

from hookd.sources.http_intake import HttpSourceProxy as HttpSource
from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, daemon_config, running_daemon, send_lines, wait_db

SECRET = "export-secret-0123456789abcdef"
# Values YAML would read as something else unless the writer quotes them, and text that holds `${`.
TRICKY = {
    "yes": "no", "on": "1.0", "date": "2026-01-01", "null": "~", "colon": "a: b", "hash": "# not a comment",
    "ref": "$${X} and ${Y}", "lines": "one\ntwo\u2028three", "big": 2**70, "float": 1.5e300, "none": None,
    "nested": [[], {}, [1, "2", True]], "unicode": "Grüße ✓", "empty": "", "spaces": "  padded  ",
}  # fmt: skip

_HOOKS = """
hooks:
  - name: big
    events: ["order.*"]
    filter: "data.total > `100`"
    url: "{url}/big"
    headers: {X-Api-Key: "${file:api.key}", X-Team: shop}
    payload: {order: "{{ data.id }}", total: "{{ data.total }}", note: "{{ data.note }}"}
  - name: all
    events: ["order.*", "gh.*"]
    url: "{url}/all"
  - name: github-push
    events: ["*"]
    filter: "request.headers.\\"x-github-event\\" == 'push'"
    url: "{url}/push"
"""


def _config(directory: Path, receiver: Receiver, *, threshold: int = 100) -> Path:
    """The config, with the secret X-Api-Key read from a file beside it (so the Redactor knows it)."""
    key = directory / "api.key"
    key.write_text(SECRET, encoding="utf-8")
    key.chmod(0o600)
    hooks = _HOOKS.replace("`100`", f"`{threshold}`").replace("{url}", receiver.url(""))
    sources = (
        "sources:\n"
        f"  - {{name: app, type: socket, path: {directory}/s.sock}}\n"
        "  - {name: gh, type: http, listen: 127.0.0.1:0, path: /gh}\n"
    )
    return daemon_config(directory, sources + hooks.lstrip("\n"))


async def _store_events(directory: Path, cfg: Path) -> None:
    async with running_daemon(cfg) as daemon:
        await send_lines(
            directory / "s.sock",
            [
                b'{"id": "big-1", "type": "order.paid", "data": {"id": 7, "total": 250, "note": "${HOME} stays"}}',
                json.dumps({"id": "tricky-1", "type": "order.noted", "data": TRICKY}).encode(),
                b'{"id": "misc-1", "type": "misc.thing", "data": {"n": 1}}',
                b'{"id": "small-1", "type": "order.paid", "data": {"id": 8, "total": 5, "note": "'
                + SECRET.encode()
                + b'"}}',
            ],
        )
        source = next(s for s in daemon.sources if isinstance(s, HttpSource))
        url = f"http://127.0.0.1:{source.port}/gh"
        headers = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=b'{"type": "gh.push", "id": "gh-1"}', headers=headers) as r,
        ):
            assert r.status == 202, await r.text()
        await wait_db(directory / "hookd.db", "SELECT count(*) FROM events", lambda rows: rows[0][0] == 5)


async def test_exported_cases_pass_now_and_fail_after_a_filter_change(short_dir: Path, receiver: Receiver) -> None:
    """1. Three events stored through a running daemon: a big order, a small one whose data holds the
    config's secret, and a GitHub push an http source received; 2. export all three; 3. run the cases;
    4. raise the filter's threshold and run them again.
    Result: the cases pass, then fail naming the big order's case; no secret in the file; the http
    event carries a comment saying its request is not in the case."""
    cfg = _config(short_dir, receiver)
    await _store_events(short_dir, cfg)

    exported = await hookd("history", "export", "--as-test", "-c", str(cfg), "--since", "1h", "--limit", "0")
    assert exported.exit_code == 0, exported.output
    text = exported.stdout
    assert SECRET not in text
    assert "The cases format has no field for the inbound request" in text
    assert "Left out, as their verdict or request depends on the inbound request" in text
    assert "$${HOME} stays" in text  # written escaped: read back as stored, not interpolated
    by_id = {case["event"]["id"]: case for case in yaml.safe_load(text)["cases"]}
    assert by_id["big-1"]["expect"]["match"] == ["big", "all"]
    assert by_id["big-1"]["expect"]["body"]["big"] == {"order": 7, "total": 250, "note": "$${HOME} stays"}
    assert by_id["big-1"]["expect"]["headers"]["big"]["X-Api-Key"] == "***"
    assert by_id["small-1"]["expect"]["match"] == ["all"]
    assert "misc-1" not in by_id  # no delivery: selected by id only
    assert by_id["tricky-1"]["expect"]["match"] == ["all"]
    [pushed] = [case for key, case in by_id.items() if key not in ("big-1", "small-1", "tricky-1")]
    # The http event: github-push reads request.*, so it is left out; the others are checked.
    assert pushed["expect"]["match_at_least"] == ["all"] and pushed["expect"]["not_match"] == ["big"]
    cases = short_dir / "hookd.tests.yaml"
    cases.write_text(text, encoding="utf-8")

    passed = await hookd("test", "-c", str(cfg), "--cases", str(cases))
    assert passed.exit_code == 0, passed.output + text
    assert "4 passed, 0 failed" in plain(passed.stdout)

    changed = _config(short_dir, receiver, threshold=1000)
    failed = await hookd("test", "-c", str(changed), "--cases", str(cases))
    assert failed.exit_code == 1, failed.output
    out = plain(failed.stdout)
    assert "FAIL stored event big-1 (order.paid)" in out
    assert "big did not match: filter is false" in out
    assert "3 passed, 1 failed" in out
    assert SECRET not in failed.output


async def test_an_event_that_matched_nothing_is_exported_by_id(short_dir: Path, receiver: Receiver) -> None:
    """1. An event no hook matched, stored; 2. exported by a prefix of its id; 3. a hook for its type added.
    Result: the case expects no match, passes, then fails naming the new hook."""
    cfg = _config(short_dir, receiver)
    await _store_events(short_dir, cfg)
    exported = await hookd("history", "export", "misc-", "--as-test", "-c", str(cfg))
    assert exported.exit_code == 0, exported.output
    [case] = yaml.safe_load(exported.stdout)["cases"]
    assert case["event"] == {"id": "misc-1", "type": "misc.thing", "time": case["event"]["time"], "data": {"n": 1}}
    assert case["expect"] == {"match": []}
    cases = short_dir / "hookd.tests.yaml"
    cases.write_text(exported.stdout, encoding="utf-8")
    assert (await hookd("test", "-c", str(cfg), "--cases", str(cases))).exit_code == 0
    cfg.write_text(cfg.read_text().replace('["order.*", "gh.*"]', '["*"]'), encoding="utf-8")

    failed = await hookd("test", "-c", str(cfg), "--cases", str(cases))

    assert failed.exit_code == 1, failed.output
    assert "all matched, but is not in the list" in plain(failed.stdout)


async def test_a_changed_template_fails_the_exported_case(short_dir: Path, receiver: Receiver) -> None:
    """1. Events stored; 2. one exported by id; 3. the hook's payload renamed a field.
    Result: the case of that event fails on the body of the hook."""
    cfg = _config(short_dir, receiver)
    await _store_events(short_dir, cfg)
    exported = await hookd("history", "export", "big-1", "--as-test", "-c", str(cfg))
    assert exported.exit_code == 0, exported.output
    cases = short_dir / "hookd.tests.yaml"
    cases.write_text(exported.stdout, encoding="utf-8")
    assert (await hookd("test", "-c", str(cfg), "--cases", str(cases))).exit_code == 0
    cfg.write_text(cfg.read_text().replace("order: ", "order_id: "), encoding="utf-8")

    failed = await hookd("test", "-c", str(cfg), "--cases", str(cases))

    assert failed.exit_code == 1, failed.output
    assert "body of big" in plain(failed.stdout)


async def test_exit_codes(short_dir: Path, receiver: Receiver) -> None:
    """Nothing selected exits 1; no --as-test, or no ids and no selector, exits 2."""
    cfg = _config(short_dir, receiver)
    await _store_events(short_dir, cfg)

    nothing = await hookd("history", "export", "nope", "--as-test", "-c", str(cfg))
    none_in_window = await hookd("history", "export", "--as-test", "-c", str(cfg), "--until", "2d")
    no_format = await hookd("history", "export", "big-1", "-c", str(cfg))
    no_events = await hookd("history", "export", "--as-test", "-c", str(cfg))

    assert nothing.exit_code == 1 and "no stored event id is or starts with 'nope'" in plain(nothing.stderr)
    assert none_in_window.exit_code == 1
    assert no_format.exit_code == 2 and "add --as-test" in plain(no_format.stderr)
    assert no_events.exit_code == 2 and "give their ids" in plain(no_events.stderr)


async def test_an_event_type_naming_a_file_or_holding_a_secret_stays_text(short_dir: Path, receiver: Receiver) -> None:
    """1. Events whose type is `order.${file:PATH}` (a file of the machine) and `order.<secret>` (the
    config's own secret), stored; 2. exported; 3. `hookd test --cases` on the file.

    Result: the case names hold the text as stored (the `${` escaped) and the secret as its
    reference, escaped too: running the cases reads neither the file nor the secret into the output."""
    cfg = _config(short_dir, receiver)
    private = short_dir / "private.txt"
    private.write_text("host-file-content-XYZ", encoding="utf-8")
    async with running_daemon(cfg):
        lines = [
            json.dumps({"id": "f-1", "type": f"order.${{file:{private}}}", "data": {}}).encode(),
            json.dumps({"id": "s-1", "type": f"order.{SECRET}", "data": {}}).encode(),
        ]
        assert all(r["ok"] for r in await send_lines(short_dir / "s.sock", lines))
        await wait_db(short_dir / "hookd.db", "SELECT count(*) FROM events", lambda rows: rows[0][0] == 2)
    exported = await hookd("history", "export", "f-1", "s-1", "--as-test", "-c", str(cfg))
    assert exported.exit_code == 0, exported.output
    assert SECRET not in exported.stdout and "host-file-content" not in exported.stdout
    cases = short_dir / "hookd.tests.yaml"
    cases.write_text(exported.stdout, encoding="utf-8")

    ran = await hookd("test", "-c", str(cfg), "--cases", str(cases))

    assert ran.exit_code == 0, ran.output
    assert "host-file-content" not in ran.output and SECRET not in ran.output
    out = plain(ran.stdout)
    assert f"(order.${{file:{private}}})" in out
    assert "(order.${file:api.key})" in out or "(order.${file:" in out
