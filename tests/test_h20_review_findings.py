"""Findings of the new-user review: a password written in a hook's url is a secret like any other;
validate says at once what the destination guard would refuse at every delivery; a templated port
is named as such."""

from __future__ import annotations

import base64
from pathlib import Path
from types import MappingProxyType

from hookd.config.load import load_config
from hookd.config.model import HookConfig
from hookd.redact import Redactor
from hookd.rendering import render_request
from hookd.router import Router
from hookd.senders.http import HttpSender
from tests.conftest import Receiver, Reply
from tests.test_h20_guard_validate import validate


def test_a_password_written_in_a_hook_url_is_warned_about_and_hidden(tmp_path: Path) -> None:
    """1. A hook whose url carries user:password written literally.
    2. validate warns at the url, naming the fix; the password joins the redaction set, so the
       Basic credentials a receiver echoes (base64 of user:password) are hidden in what is stored."""
    text = 'version: 1\nhooks:\n  - {name: r, events: ["*"], url: "http://user:LiteralUrlPw-456@127.0.0.1:9/r"}\n'
    code, lines, path = validate(tmp_path, text)
    assert code == 0, lines
    [warning] = [line for line in lines if "password is written in the config file" in line]
    assert ":3:" in warning and "hooks[0] (name='r').url" in warning
    assert "LiteralUrlPw-456" not in "\n".join(lines)
    echoed = "Authorization: Basic " + base64.b64encode(b"user:LiteralUrlPw-456").decode()
    assert "dXNlcjpMaXRlcmFsVXJsUHctNDU2" in echoed
    shown = Redactor(load_config(path).secrets).text(echoed)
    assert "dXNlcjpMaXRlcmFsVXJsUHctNDU2" not in shown and "LiteralUrlPw" not in shown


def test_a_templated_url_to_a_written_out_private_address_is_an_error(tmp_path: Path) -> None:
    """1. Templated urls whose host is written out as loopback and as a private address, with and
       without allow_destinations covering it.
    2. validate refuses the uncovered ones (the guard would refuse every delivery), naming the
       address to add; the covered one and a name (resolved only at run time) pass."""
    text = (
        "version: 1\nhooks:\n"
        '  - {name: a, events: ["*"], url: "http://127.0.0.1:9/o/{{ data.id }}"}\n'
        '  - {name: b, events: ["*"], url: "http://127.0.0.1:9/o/{{ data.id }}", allow_destinations: [127.0.0.0/8]}\n'
        '  - {name: c, events: ["*"], url: "http://10.1.2.3/o/{{ data.id }}", allow_destinations: [192.168.0.0/16]}\n'
        '  - {name: d, events: ["*"], url: "http://localhost:9/o/{{ data.id }}"}\n'
    )
    code, lines, _ = validate(tmp_path, text)
    errors = [line for line in lines if "every delivery would be refused" in line]
    assert code == 1
    assert len(errors) == 2, lines
    assert "hooks[0]" in errors[0] and "add 127.0.0.1/32 to the hook's allow_destinations" in errors[0]
    assert "hooks[2]" in errors[1] and "10.1.2.3 is private" in errors[1]


def test_a_templated_port_is_named_as_a_port(tmp_path: Path) -> None:
    """A url whose port (not host) is templated, without allow_hosts: the error says the port."""
    text = 'version: 1\nhooks:\n  - {name: a, events: ["*"], url: "https://api.example.com:{{ data.port }}/x"}\n'
    code, lines, _ = validate(tmp_path, text)
    assert code == 1
    assert any("the port of url is templated" in line for line in lines), lines
    assert not any("the host of url is templated" in line for line in lines), lines


def test_a_url_password_is_hidden_when_the_url_holds_another_at_later(tmp_path: Path) -> None:
    """A hook url with user:password and an @ in its query (an e-mail address): the password alone
    is a secret (reading the userinfo up to the last @ would take most of the url instead)."""
    url = "https://ops:hunter2-hunter2-0123@crm.example/hook?notify=ops@example.com"
    text = f'version: 1\nhooks:\n  - {{name: r, events: ["*"], url: "{url}"}}\n'
    _, _, path = validate(tmp_path, text)
    redactor = Redactor(load_config(path).secrets)
    echoed = "your password hunter2-hunter2-0123; Basic " + base64.b64encode(b"ops:hunter2-hunter2-0123").decode()
    shown = redactor.text(echoed)
    assert "hunter2" not in shown and base64.b64encode(b"ops:hunter2-hunter2-0123").decode() not in shown


async def test_credential_headers_do_not_follow_to_another_host_by_their_name(receiver: Receiver) -> None:
    """1. A hook with headers named as credentials: X-Short-Key from a 6-character secret (too short to
       be known by value) and X-Api-Key written literally, plus an ordinary X-Tenant.
    2. A redirect to another host (localhost, the same server): the target gets X-Tenant and the
       body, neither credential; the hook's own host got all three."""
    assert receiver.server is not None
    receiver.on("/a", Reply(status=307, headers={"Location": f"http://localhost:{receiver.server.port}/b"}))
    headers = {"X-Short-Key": "k3y-42", "X-Api-Key": "literal-api-key-0123456789", "X-Tenant": "acme"}
    hook = HookConfig(name="h", events=("*",), url=receiver.url("/a"), follow_redirects=True,
                      headers=MappingProxyType(headers), allow_destinations=("127.0.0.0/8",))  # fmt: skip
    router = Router([hook], secrets=[("k3y-42", "${SHORT_KEY}")])
    sender = HttpSender(endpoints=router.endpoints)
    try:
        event = b'{"id":"e1","type":"t","time":"2024-01-01T00:00:00Z","source":"s","data":{}}'
        outcome = await sender.send(render_request(router.by_name["h"], "d-1", "e1", 1, event, 0.0))
    finally:
        await sender.close()
    assert outcome.ok, outcome.error
    first, second = receiver.requests
    assert {first.headers.get(n) for n in headers} == set(headers.values())
    assert second.path == "/b" and second.headers.get("X-Tenant") == "acme"
    assert "X-Short-Key" not in second.headers and "X-Api-Key" not in second.headers
