"""`hookd test` shows each format's body as it is sent (issue 22): the text of a form or text body
(a form's fields decoded under it), JSON laid out for json and cloudevents, the ce-* headers of
binary mode; --json gives the body as sent and names the format."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import hookd, plain

CONFIG = """\
version: 1
hooks:
  - name: form
    events: [order.*]
    url: http://127.0.0.1:9/form
    format: form
    payload: {order: '{{ data.id }}', who: '{{ data.who }}', tags: '{{ data.tags }}'}
  - name: text
    events: [order.*]
    url: http://127.0.0.1:9/text
    format: text
    payload: '{{ data.id }}'
  - name: ce
    events: [order.*]
    url: http://127.0.0.1:9/ce
    format: cloudevents
  - name: binary
    events: [order.*]
    url: http://127.0.0.1:9/binary
    format: cloudevents_binary
    payload: {order: '{{ data.id }}'}
"""
EVENT = '{"type": "order.paid", "id": "evt-1", "time": "2026-05-31T12:00:00Z", "source": "Euro € 😀", "data": {"id": 7, "who": "Zoë Ünal", "tags": ["a", "b"]}}'  # noqa: E501


def config(tmp_path: Path) -> Path:
    path = tmp_path / "hookd.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    (tmp_path / "events.jsonl").write_text(EVENT + "\n", encoding="utf-8")
    return path


def section(output: str, hook: str) -> str:
    """The lines `hookd test` prints for one hook."""
    start = output.index(f"  {hook}: matched")
    end = min((i for h in ("form", "text", "ce", "binary") if (i := output.find(f"  {h}: matched", start + 1)) > 0),
              default=output.index(" event(s), ", start))  # fmt: skip
    return output[start:end]


async def test_each_format_is_shown_as_sent(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    result = await hookd("test", "-c", str(cfg), str(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output
    out = plain(result.output)

    form = section(out, "form")
    assert "    format: form\n" in form and "    Content-Type: application/x-www-form-urlencoded\n" in form
    assert "\n    order=7&who=Zo%C3%AB+%C3%9Cnal&tags=a&tags=b\n" in form
    assert "    decoded:\n      order = 7\n      who = Zoë Ünal\n      tags = a\n      tags = b\n" in form

    text = section(out, "text")
    assert "    Content-Type: text/plain; charset=utf-8\n" in text and "\n\n    7\n" in text  # text, not JSON

    ce = section(out, "ce")
    assert "    Content-Type: application/cloudevents+json\n" in ce
    assert '      "specversion": "1.0",\n      "id": "evt-1",\n      "source": "Euro € 😀",\n' in ce
    assert '      "datacontenttype": "application/json",\n      "data": {\n        "id": 7,' in ce

    binary = section(out, "binary")
    assert "    Content-Type: application/json\n" in binary
    assert "    ce-specversion: 1.0\n    ce-id: evt-1\n    ce-source: Euro%20%E2%82%AC%20%F0%9F%98%80\n" in binary
    assert "    ce-type: order.paid\n    ce-time: 2026-05-31T12:00:00Z\n" in binary
    assert '\n    {\n      "order": 7\n    }' in binary


async def test_json_output_gives_the_body_as_sent_and_the_format(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    result = await hookd("test", "-c", str(cfg), "--json", str(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output
    hooks = {h["hook"]: h for h in json.loads(result.output)["events"][0]["hooks"]}
    assert {name: h["format"] for name, h in hooks.items()} == {
        "form": "form", "text": "text", "ce": "cloudevents", "binary": "cloudevents_binary",
    }  # fmt: skip
    assert hooks["form"]["request"]["body"] == "order=7&who=Zo%C3%AB+%C3%9Cnal&tags=a&tags=b"
    assert hooks["text"]["request"]["body"] == "7"  # a string: the text sent, though it reads as JSON
    assert hooks["ce"]["request"]["body"]["data"] == {"id": 7, "who": "Zoë Ünal", "tags": ["a", "b"]}
    assert hooks["binary"]["request"]["headers"]["ce-source"] == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    assert hooks["binary"]["request"]["body"] == {"order": 7}


async def test_a_form_payload_that_is_no_object_fails_as_the_daemon_would(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\nhooks:\n  - {name: f, events: ['*'], url: 'http://127.0.0.1:9/', format: form, "
        "payload: '{{ data.tags }}'}\n",
        encoding="utf-8",
    )
    result = await hookd("test", "-c", str(path), "--type", "x", "--data", '{"tags": [1]}')
    assert result.exit_code == 1
    assert (
        "cannot render the request: payload: format form sends an object's fields as key=value pairs, and this "
        "rendered to a list"
    ) in plain(result.output).replace("\n    ", " ")


CASES = """\
cases:
  - name: a form body is compared as its fields
    event: {id: evt-1, type: order.paid, data: {id: 7, who: Zoë, tags: [a, b]}}
    expect:
      body: {form: {order: '7', who: Zoë, tags: [a, b]}}
      assert: {form: ["form.order == '7'"]}
  - name: a wrong field fails with a diff of the fields
    event: {id: evt-2, type: order.paid, data: {id: 8, who: Ann, tags: [c]}}
    expect:
      body: {form: {order: '9'}}
"""


async def test_cases_compare_a_form_body_as_its_fields(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cases = tmp_path / "hookd.tests.yaml"
    cases.write_text(CASES, encoding="utf-8")
    result = await hookd("test", "-c", str(cfg), "--cases", str(cases))
    out = plain(result.output)
    assert result.exit_code == 1, out
    assert "PASS a form body is compared as its fields" in out
    assert "body of form: the form's fields do not contain the expected values" in out
    assert '-order: "9"\n    +order: "8"' in out and "1 passed, 1 failed" in out
    as_json = await hookd("test", "-c", str(cfg), "--json", "--hook", "form", str(tmp_path / "events.jsonl"))
    shown = json.loads(as_json.output)
    [hook] = shown["events"][0]["hooks"]
    assert hook["request"]["form"] == {"order": "7", "who": "Zoë Ünal", "tags": ["a", "b"]}
