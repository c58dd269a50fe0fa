"""`hookd test --request`: recorded HTTP requests, signed as the senders sign them, through the http
source's checks and the hooks, on real config and request files, through typer's CliRunner."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner, Result

import hookd.cli.test_cmd  # noqa: F401  registers `hookd test`
from hookd.cli.app import app
from tests.cli_helpers import plain

REPO = Path(__file__).resolve().parent.parent
GITHUB_SECRET = "gh-test-secret-0123"
STRIPE_SECRET = "whsec_stripe_test_0123"
META_TOKEN = "meta-verify-token-42"
SIGNED_AT = 1_796_000_000  # 2026-11-30T00:53:20Z


def flat(text: str) -> str:
    """`text` without colour and with the console's line wrapping undone."""
    return " ".join(plain(text).split())


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["test", *args], env={"HOOKD_CONFIG": None, "NO_COLOR": "1", **(env or {})})


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "hookd.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            sources:
              - name: github
                type: http
                listen: 127.0.0.1:0
                path: /hooks/{{tenant}}/github
                verify: {{type: github, secret: {GITHUB_SECRET}}}
              - name: stripe
                type: http
                listen: 127.0.0.1:0
                path: /hooks/stripe
                verify: {{type: stripe, secret: {STRIPE_SECRET}}}
              - name: whatsapp
                type: http
                listen: 127.0.0.1:0
                path: /hooks/whatsapp
                methods: [POST]
                verify: {{type: github, secret: {GITHUB_SECRET}, verify_token: {META_TOKEN}}}
            hooks:
              - name: tenant-chat
                events: ["github.*"]
                url: http://127.0.0.1:9/chat
                payload:
                  tenant: "{{{{ request.params.tenant }}}}"
                  event: "{{{{ request.headers.\\"x-github-event\\" }}}}"
                  ref: "{{{{ data.ref }}}}"
              - name: ci-forward
                events: [github.push]
                url: http://127.0.0.1:9/ci
                forward: {{body: raw, headers: [x-hub-signature-256, x-github-event]}}
              - name: payments
                events: ["stripe.*"]
                url: http://127.0.0.1:9/payments
            """
        )
    )
    return path


def github_request(tmp_path: Path, body: bytes, *, signed_body: bytes | None = None, name: str = "push.json") -> Path:
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), signed_body or body, hashlib.sha256).hexdigest()
    request = {
        "method": "POST",
        "path": "/hooks/acme/github?via=test",
        "headers": {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "delivery-1",
            "X-Hub-Signature-256": signature,
            "Cookie": "session=private",
        },
        "body": body.decode(),
    }
    path = tmp_path / name
    path.write_text(json.dumps(request, indent="\t"))  # as JSON tools indent: with tabs
    return path


PUSH = json.dumps({"ref": "refs/heads/main", "after": "abc123"}).encode()


def test_an_accepted_request_shows_the_answer_the_event_and_each_hooks_request(tmp_path: Path) -> None:
    """1. A GitHub push signed with the source's secret. 2. hookd test --request.
    Result: exit 0; 202 with the delivery id; the verdict; the stored request without the cookie; the
    template read request.params and request.headers; the forward hook sends the raw body."""
    config = write_config(tmp_path)
    result = invoke("-c", str(config), "--request", str(github_request(tmp_path, PUSH)))
    out = flat(result.output)
    assert result.exit_code == 0, out
    assert '202 {"id": "delivery-1"}' in out
    assert "verified: github with secret #0" in out
    assert '"tenant": "acme"' in out
    assert '"via": "test"' in out
    assert "session=private" not in out
    assert "tenant-chat: matched" in out
    assert "ci-forward: matched" in out
    assert "POST http://127.0.0.1:9/chat" in out
    assert '"event": "push"' in out
    assert "x-hub-signature-256: ***" in out  # the forwarded signature, redacted as a secret-like header
    assert "payments: not matched" in out
    assert GITHUB_SECRET not in out


def test_a_tampered_body_is_refused_401_with_the_reason(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    tampered = github_request(tmp_path, PUSH.replace(b"main", b"evil"), signed_body=PUSH)
    result = invoke("-c", str(config), "--request", str(tampered))
    out = flat(result.output)
    assert result.exit_code == 1, out
    assert "answer: 401" in out
    assert "refused: 401: the signature in X-Hub-Signature-256 does not match the configured secret" in out
    assert "tenant-chat" not in out  # no event, so no hooks


def stripe_request(tmp_path: Path, *, received_at: str | None = None) -> Path:
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"amount": 42}}})
    signature = hmac.new(STRIPE_SECRET.encode(), f"{SIGNED_AT}.{body}".encode(), hashlib.sha256).hexdigest()
    lines = [
        "method: POST",
        "path: /hooks/stripe",
        "headers:",
        "  Content-Type: application/json",
        f"  Stripe-Signature: t={SIGNED_AT},v1={signature}",
        f"body: '{body}'",
    ]
    if received_at is not None:
        lines.append(f"received_at: {received_at}")
    path = tmp_path / "stripe.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_stale_timestamp_says_how_old_and_at_checks_it_as_of_then(tmp_path: Path) -> None:
    """1. A Stripe event signed days before now. 2. --request without --at, then with the --at the
    message suggests, then with received_at in the file. Result: 1 with how old and the --at; 0; 0."""
    config = write_config(tmp_path)
    request = stripe_request(tmp_path)
    stale = invoke("-c", str(config), "--request", str(request))
    out = flat(stale.output)
    assert stale.exit_code == 1, out
    assert "answer: 401" in out
    assert "s old, past the tolerance of 300 s" in out
    assert "run again with --at 2026-11-30T00:53:20Z" in out

    fixed = invoke("-c", str(config), "--request", str(request), "--at", "2026-11-30T00:53:20Z")
    assert fixed.exit_code == 0, flat(fixed.output)
    assert '202 {"id": "evt_1"}' in flat(fixed.output)
    assert "payments: matched" in flat(fixed.output)
    assert invoke("-c", str(config), "--request", str(request), "--at", str(SIGNED_AT + 60)).exit_code == 0

    recorded = stripe_request(tmp_path, received_at="2026-11-30T00:54:00Z")
    assert invoke("-c", str(config), "--request", str(recorded)).exit_code == 0


def test_a_meta_handshake_is_answered_with_the_challenge_and_no_event(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    good = tmp_path / "meta.yaml"
    good.write_text(
        "method: GET\n"
        f"path: /hooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={META_TOKEN}\n"
    )
    result = invoke("-c", str(config), "--request", str(good), "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["answer"]["status"] == 200
    assert shown["answer"]["body"] == "1158201444"
    assert shown["event"] is None and shown["hooks"] == []

    wrong = tmp_path / "meta-wrong.yaml"
    wrong.write_text("method: GET\npath: /hooks/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope\n")
    refused = invoke("-c", str(config), "--request", str(wrong))
    assert refused.exit_code == 1
    assert "answer: 403" in flat(refused.output)
    assert META_TOKEN not in refused.output


def test_an_unknown_path_lists_the_sources_paths(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    request = tmp_path / "lost.yaml"
    request.write_text("path: /hooks/gitlab\nbody: '{}'\n")
    result = invoke("-c", str(config), "--request", str(request))
    out = flat(result.output)
    assert result.exit_code == 1
    assert "refused: 404: no http source of the config listens on /hooks/gitlab" in out
    assert "/hooks/{tenant}/github (github), /hooks/stripe (stripe), /hooks/whatsapp (whatsapp)" in out


def test_source_picks_the_source_and_an_unknown_one_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    request = github_request(tmp_path, PUSH)
    other = invoke("-c", str(config), "--request", str(request), "--source", "stripe")
    assert other.exit_code == 1
    assert "does not match the path of source 'stripe'" in flat(other.output)
    unknown = invoke("-c", str(config), "--request", str(request), "--source", "githb")
    assert unknown.exit_code == 2
    assert "--source 'githb' is not an http source of the config; did you mean 'github'?" in flat(unknown.output)


def test_a_bad_request_file_names_file_line_and_key(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    request = tmp_path / "bad.yaml"
    request.write_text("method: POST\npath: /hooks/stripe\nheader: {a: b}\nbody: [1, 2]\n")
    result = invoke("-c", str(config), "--request", str(request))
    err = flat(result.stderr)
    assert result.exit_code == 2
    assert f"{request}:3: error: unknown key 'header'; did you mean 'headers'?" in err
    assert f"{request}:4: error: body must be a string, not a list" in err

    broken = tmp_path / "broken.json"
    broken.write_text('{\n\t"path": "/hooks/stripe",\n\t"method": 7\n}\n')
    result = invoke("-c", str(config), "--request", str(broken))
    assert result.exit_code == 2
    assert f"{broken}:3: error: method must be a string, not a number" in flat(result.stderr)


def test_a_body_keeps_dollar_braces_and_body_file_and_base64_read_bytes(tmp_path: Path) -> None:
    """A recorded body is bytes, not config: ${...} stays as written, so its signature still matches."""
    config = write_config(tmp_path)
    body = json.dumps({"ref": "refs/heads/main", "script": "echo ${HOME} $${x}"}).encode()
    assert invoke("-c", str(config), "--request", str(github_request(tmp_path, body))).exit_code == 0
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    (tmp_path / "body.bin").write_bytes(body)
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-2", "X-Hub-Signature-256": signature}
    for extra in ({"body_file": "body.bin"}, {"body_base64": base64.b64encode(body).decode()}):
        request = tmp_path / "r.json"
        request.write_text(json.dumps({"path": "/hooks/a/github", "headers": headers, **extra}))
        result = invoke("-c", str(config), "--request", str(request))
        assert result.exit_code == 0, flat(result.output)


def test_json_output_has_the_answer_verdict_request_event_and_hooks(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = invoke("-c", str(config), "--request", str(github_request(tmp_path, PUSH)), "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert set(shown) == {
        "ok", "checked_at", "source", "also_matching", "answer", "refused", "fix", "verification", "request",
        "event", "hooks",
    }  # fmt: skip
    assert shown["ok"] is True and shown["source"] == "github" and shown["refused"] is None
    assert shown["answer"] == {"status": 202, "content_type": "application/json", "body": {"id": "delivery-1"}}
    assert shown["verification"]["scheme"] == "github" and shown["verification"]["secret"] == 0
    assert "cookie" not in shown["request"]["headers"]
    assert shown["request"]["params"] == {"tenant": "acme"}
    assert shown["event"]["type"] == "github.push" and shown["event"]["id"] == "delivery-1"
    hooks = {h["hook"]: h for h in shown["hooks"]}
    assert hooks["tenant-chat"]["request"]["body"] == {"tenant": "acme", "event": "push", "ref": "refs/heads/main"}
    assert hooks["ci-forward"]["request"]["body"] == json.loads(PUSH)

    refused = invoke("-c", str(config), "--request", str(github_request(tmp_path, b"{}", signed_body=PUSH)), "--json")
    assert refused.exit_code == 1
    shown = json.loads(refused.stdout)
    assert shown["ok"] is False and shown["answer"]["status"] == 401 and shown["refused"].startswith("401: ")


def test_request_with_an_events_file_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = invoke("-c", str(config), "--request", str(github_request(tmp_path, PUSH)), "--type", "x")
    assert result.exit_code == 2
    assert "--request gives the event itself; drop --type" in flat(result.output)
    assert invoke("-c", str(config), "--at", "2026-11-30T00:53:20Z", "--type", "x").exit_code == 2


def test_the_examples_recorded_push_passes() -> None:
    example = REPO / "examples/github-inbound"
    env = {"GITHUB_WEBHOOK_SECRET": "It's a Secret to Everybody"}
    result = invoke("-c", str(example / "hookd.yaml"), "--request", str(example / "requests/push.json"), env=env)
    out = flat(result.output)
    assert result.exit_code == 0, out
    assert "answer: 202" in out
    assert "verified: github with secret #0" in out
    wrong = invoke("-c", str(example / "hookd.yaml"), "--request", str(example / "requests/push.json"),
                   env={"GITHUB_WEBHOOK_SECRET": "another secret"})  # fmt: skip
    assert wrong.exit_code == 1


def test_a_compressed_body_is_refused_415_as_the_live_source_refuses_it(tmp_path: Path) -> None:
    """A recorded push sent with Content-Encoding: gzip. Result: 415 with the live source's own reason
    (hookd.inbound.admission decides for both), and what to do; no event."""
    config = write_config(tmp_path)
    recorded = github_request(tmp_path, PUSH)
    request = json.loads(recorded.read_text())
    request["headers"]["Content-Encoding"] = "gzip"
    recorded.write_text(json.dumps(request))
    result = invoke("-c", str(config), "--request", str(recorded))
    out = flat(result.output)
    assert result.exit_code == 1, out
    assert "answer: 415" in out and "uncompressed" in out and "tenant-chat" not in out
    assert "refused: 415: the body is sent with Content-Encoding 'gzip'; hookd takes bodies uncompressed" in out


def test_a_request_file_of_nested_aliases_is_refused_at_once(tmp_path: Path) -> None:
    """A YAML request file under 1 KB whose aliases expand tenfold per level, nine levels deep (a billion
    values). Result: refused naming the file and line, as a config would be, instead of expanding."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    request = tmp_path / "bomb.yaml"
    request.write_text("path: /hooks/stripe\n" + "\n".join(levels) + "\nbody: '{}'\n")
    result = invoke("-c", str(write_config(tmp_path)), "--request", str(request))
    out = flat(result.output)
    assert result.exit_code == 2, out
    assert "bomb.yaml" in out and "billion laughs" in out
