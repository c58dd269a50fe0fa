"""The config of http sources (`type: http`) and a hook's `forward:` (issue 23): the loaded records,
`hookd validate`'s errors and warnings at their line, the secrets they hide, and the published schema
accepting and refusing the same basics."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import jsonschema
import pytest
import trustme
import yaml
from typer.testing import CliRunner

from hookd.cli.app import app
from hookd.config.load import check_config, load_config
from hookd.config.model import (
    ForwardConfig,
    HttpSourceConfig,
    ListenTlsConfig,
    ResponseConfig,
    VerifyConfig,
)
from hookd.config.schema import schema
from hookd.keys import generate_key_pair, generate_secret
from tests.cli_helpers import plain

runner = CliRunner()
SOURCES = "version: 1\nsources:\n"
# A loopback http source with a verify that needs nothing more; tests add keys under it (line 3 on).
GITHUB = (
    "  - name: gh\n"
    "    type: http\n"
    "    listen: 127.0.0.1:8088\n"
    "    path: /hooks/github\n"
    "    verify: {type: github, secret: '${GH_SECRET}'}\n"
)
ENV = {"GH_SECRET": "gh-secret-value-1234", "HOOKD_CONFIG": None}


def write_pair(cert: Path, key: Path) -> None:
    """A certificate and its key, as PEM files a listener loads (from a CA made here)."""
    issued = trustme.CA().issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))


def validate(tmp_path: Path, text: str, env: dict[str, str | None] | None = None) -> tuple[int, list[str], Path]:
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)], env={**ENV, **(env or {})})
    return result.exit_code, plain(result.stdout).splitlines(), path


def said(lines: list[str], path: Path, at: str, severity: str = "error") -> list[str]:
    """The messages validate printed at `at` (line:column) with `severity`."""
    prefix = f"{path}:{at}: {severity}: "
    return [line[len(prefix) :] for line in lines if line.startswith(prefix)]


# --- loading ------------------------------------------------------------------------------------


def test_a_full_http_source_and_a_forward_load_as_records(tmp_path: Path) -> None:
    """Every key of the issue's example, and a few more: the records hold parsed values, names
    upper- and lower-cased as the code compares them, tls files resolved against the config's directory."""
    (tmp_path / "tls").mkdir()
    write_pair(tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem")
    text = (
        SOURCES + "  - name: github\n"
        "    type: http\n"
        "    listen: 0.0.0.0:8088\n"
        "    path: /hooks/{tenant}/github\n"
        "    methods: [post, PUT]\n"
        "    verify: {type: github, secret: '${GH_SECRET}', verify_token: '${META_TOKEN}'}\n"
        "    allow_ips: [140.82.112.0/20, '2a0a:a440::/29']\n"
        "    trusted_proxies: [127.0.0.1/32]\n"
        "    event_type: \"join('.', ['github', request.headers.\\\"x-github-event\\\"])\"\n"
        "    event_id: 'request.headers.\"x-github-delivery\"'\n"
        "    response: {mode: async, status: 202}\n"
        "    max_event_size: 5MB\n"
        "    read_timeout: 20s\n"
        "    tls: {cert_file: tls/cert.pem, key_file: tls/key.pem}\n"
        "  - name: shop\n"
        "    type: http\n"
        "    listen: 127.0.0.1:8089\n"
        "    path: /shop\n"
        "    verify:\n"
        "      type: hmac\n"
        "      secrets: ['${NEW}', '${OLD}']\n"
        "      header: X-Signature\n"
        "      algorithm: sha512\n"
        "      encoding: base64\n"
        "      prefix: 'sha512='\n"
        "      content: '{timestamp}.{body}'\n"
        "      timestamp_header: X-Timestamp\n"
        "      tolerance: 2m\n"
        "    response:\n"
        "      mode: sync\n"
        "      status: '{{ deliveries[0].response.status }}'\n"
        "      headers: {X-Handled-By: hookd}\n"
        "      body: {ok: true}\n"
        "      timeout: 5s\n"
        "      max_relay: 2MB\n"
        "      max_waiting: 10\n"
        "hooks:\n"
        "  - name: relay\n"
        "    events: ['github.*']\n"
        "    url: https://ci.example/hooks\n"
        "    forward: {body: raw, headers: [X-Hub-Signature-256, x-github-event]}\n"
    )
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    env = {"GH_SECRET": "gh-secret-value-1234", "META_TOKEN": "meta-token-5678", "NEW": "n" * 20, "OLD": "o" * 20}
    settings = load_config(path, env=env)
    github, shop = settings.sources
    assert github == HttpSourceConfig(
        name="github",
        listen=("0.0.0.0", 8088),
        path="/hooks/{tenant}/github",
        methods=("POST", "PUT"),
        verify=VerifyConfig(type="github", secrets=("gh-secret-value-1234",), verify_token="meta-token-5678"),
        allow_ips=("140.82.112.0/20", "2a0a:a440::/29"),
        trusted_proxies=("127.0.0.1/32",),
        event_type="join('.', ['github', request.headers.\"x-github-event\"])",
        event_id='request.headers."x-github-delivery"',
        response=ResponseConfig(mode="async", status=202),
        max_event_bytes=5_000_000,
        read_timeout_s=20.0,
        tls=ListenTlsConfig(cert_file=tmp_path / "tls" / "cert.pem", key_file=tmp_path / "tls" / "key.pem"),
    )
    assert shop == HttpSourceConfig(
        name="shop",
        listen=("127.0.0.1", 8089),
        path="/shop",
        verify=VerifyConfig(
            type="hmac",
            secrets=("n" * 20, "o" * 20),
            header="X-Signature",
            algorithm="sha512",
            encoding="base64",
            prefix="sha512=",
            content="{timestamp}.{body}",
            timestamp_header="X-Timestamp",
            tolerance_s=120.0,
        ),
        response=ResponseConfig(
            mode="sync",
            status="{{ deliveries[0].response.status }}",
            headers=MappingProxyType({"X-Handled-By": "hookd"}),
            body={"ok": True},
            timeout_s=5.0,
            max_relay=2_000_000,
            max_waiting=10,
        ),
    )
    assert github.origin is not None and github.origin.line == 3
    [hook] = settings.hooks
    assert hook.forward == ForwardConfig(body="raw", headers=("x-hub-signature-256", "x-github-event"))
    # The verify secrets and the Meta token are hidden by value, as a hook's signing secrets are.
    hidden = dict(settings.secrets)
    assert hidden["gh-secret-value-1234"] == "${GH_SECRET}"
    assert hidden["meta-token-5678"] == "${META_TOKEN}"
    assert hidden["n" * 20] == "${NEW}" and hidden["o" * 20] == "${OLD}"


def test_the_defaults_of_a_minimal_http_source_are_the_models(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, SOURCES + GITHUB)
    assert (code, lines) == (0, [f"ok {path}: 0 hook(s), 1 source(s)"])
    [source] = load_config(path, env={"GH_SECRET": "gh-secret-value-1234"}).sources
    assert source.methods == ("POST",)
    assert source.response == ResponseConfig()
    assert source.tls is None and source.allow_ips == () and source.event_id is None
    assert source.verify is not None and source.verify.tolerance_s == 300.0


def test_a_standard_verify_takes_a_whsec_secret_and_a_whpk_public_key(tmp_path: Path) -> None:
    _, public_key = generate_key_pair()
    text = SOURCES + (
        "  - name: peer\n"
        "    type: http\n"
        "    listen: 127.0.0.1:8088\n"
        "    path: /from-hookd\n"
        f"    verify: {{type: standard, secret: '${{WHSEC}}', public_key: {public_key}}}\n"
    )
    code, lines, path = validate(tmp_path, text, {"WHSEC": generate_secret()})
    assert (code, lines) == (0, [f"ok {path}: 0 hook(s), 1 source(s)"])
    [source] = load_config(path, env={"WHSEC": generate_secret()}).sources
    assert source.verify is not None and source.verify.public_key == public_key
    # The public key is not a secret: not hidden, and no literal-secret warning.
    assert public_key not in dict(load_config(path, env={"WHSEC": generate_secret()}).secrets)


# --- who may call -------------------------------------------------------------------------------


def test_listening_beyond_loopback_needs_verify_or_allow_ips(tmp_path: Path) -> None:
    text = SOURCES + "  - name: open\n    type: http\n    listen: 0.0.0.0:8088\n    path: /hooks/open\n"
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert said(lines, path, "5:13") == [
        "sources[0] (name='open').listen: '0.0.0.0' is not a loopback address, and this source has neither verify "
        "nor allow_ips, so anyone who can reach the port could send it events; add verify (like verify: {type: "
        "github, secret: ${GITHUB_WEBHOOK_SECRET}}), or allow_ips with the senders' networks, or listen on "
        "127.0.0.1 behind a reverse proxy"
    ]
    for fix in ("    allow_ips: [192.0.2.0/24]\n", "    verify: {type: github, secret: '${GH_SECRET}'}\n"):
        code, lines, path = validate(tmp_path, text + fix)
        assert code == 0, lines
    loopback = text.replace("0.0.0.0", "127.0.0.1")
    assert validate(tmp_path, loopback)[0] == 0


def test_networks_must_be_cidr(tmp_path: Path) -> None:
    text = SOURCES + GITHUB + "    allow_ips: [10.0.0.1/8, nonsense, 192.0.2.7]\n    trusted_proxies: ['::1/200']\n"
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert said(lines, path, "8:17") == [
        "sources[0] (name='gh').allow_ips[0]: '10.0.0.1/8' has bits set past its prefix length; write the network "
        "itself, 10.0.0.0/8"
    ]
    assert said(lines, path, "8:29") == [
        "sources[0] (name='gh').allow_ips[1]: 'nonsense' is not an IP network; write one in CIDR notation, like "
        "192.0.2.0/24 or 2001:db8::/32"
    ]
    assert said(lines, path, "9:23") == [
        "sources[0] (name='gh').trusted_proxies[0]: '::1/200' is not an IP network; write one in CIDR notation, "
        "like 192.0.2.0/24 or 2001:db8::/32"
    ]
    assert len([line for line in lines if ": error: " in line]) == 3  # 192.0.2.7 is one host: fine


# --- paths and methods --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "hooks",
            "'hooks' is not valid: write a path starting with /, like /hooks/github",
        ),
        (
            "/hooks/{a}/x/{a}",
            "parameter {a} appears twice in the path; give each parameter its own name, like {tenant} and {shop}",
        ),
        (
            "/hooks/x{id}",
            "'x{id}' is not a path parameter: a parameter is a whole segment holding a name of letters, digits "
            "and _ in braces, like /hooks/{tenant}/orders",
        ),
        (
            "/hooks/{}",
            "'{}' is not a path parameter: a parameter is a whole segment holding a name of letters, digits "
            "and _ in braces, like /hooks/{tenant}/orders",
        ),
        (
            "/healthz",
            "/healthz is reserved for the listener's health check (GET, for load balancers); choose another path, "
            "like /hooks/github",
        ),
    ],
)
def test_path_mistakes(tmp_path: Path, written: str, message: str) -> None:
    code, lines, path = validate(tmp_path, SOURCES + GITHUB.replace("/hooks/github", f"'{written}'"))
    assert code == 1
    assert said(lines, path, "6:11") == [f"sources[0] (name='gh').path: {message}"]


def test_methods_outside_the_five_are_errors(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, SOURCES + GITHUB + "    methods: [post, FETCH, POST]\n")
    assert code == 1
    assert said(lines, path, "8:21") == [
        "sources[0] (name='gh').methods[1]: 'FETCH' is not a method an http source takes; use GET, POST, PUT, "
        "PATCH, DELETE; did you mean 'PATCH'?"
    ]
    assert said(lines, path, "8:28", "warning") == [
        "sources[0] (name='gh').methods[2]: POST is already listed; list each method once"
    ]


def _source(name: str, listen: str, path: str, extra: str = "") -> str:
    return (
        f"  - name: {name}\n    type: http\n    listen: {listen}\n    path: '{path}'\n"
        f"    verify: {{type: github, secret: '${{GH_SECRET}}'}}\n{extra}"
    )


def test_two_sources_may_not_take_the_same_route_of_a_listener(tmp_path: Path) -> None:
    """Same listen, path and method: an error at the second. Parameters count as the same when only
    their names differ; a parameter beside a written-out segment is no clash, nor another method."""
    text = SOURCES + (
        _source("a", "127.0.0.1:8088", "/hooks/{tenant}")
        + _source("b", "127.0.0.1:8088", "/hooks/{shop}")
        + _source("c", "127.0.0.1:8088", "/hooks/github")
        + _source("d", "127.0.0.1:8088", "/hooks/{x}", "    methods: [PUT]\n")
        + _source("e", "127.0.0.1:8089", "/hooks/{tenant}")
    )
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert [line for line in lines if ": error: " in line] == [
        f"{path}:11:11: error: sources[1] (name='b').path: POST /hooks/{{shop}} on 127.0.0.1:8088 is already taken "
        "by the source on line 3; each path and method of a listener belongs to one source: change the path or "
        "the methods"
    ]


def test_sources_sharing_a_listener_need_the_same_tls(tmp_path: Path) -> None:
    write_pair(tmp_path / "c.pem", tmp_path / "k.pem")
    text = SOURCES + (
        _source("a", "127.0.0.1:8088", "/a", "    tls: {cert_file: c.pem, key_file: k.pem}\n")
        + _source("b", "127.0.0.1:8088", "/b")
        + _source("c", "127.0.0.1:8088", "/c", "    tls: {cert_file: ./c.pem, key_file: k.pem}\n")
    )
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert [line for line in lines if ": error: " in line] == [
        f"{path}:11:13: error: sources[1] (name='b').listen: this source shares its listen address with the source "
        "on line 3, whose tls differs; sources on one listener are served with one TLS setting, so give them the "
        "same tls, or listen on another port"
    ]


def test_an_http_source_may_not_take_a_socket_sources_address(tmp_path: Path) -> None:
    text = SOURCES + "  - {name: app, type: socket, listen: '127.0.0.1:8088'}\n" + GITHUB
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert said(lines, path, "6:13") == [
        "sources[1] (name='gh').listen: 127.0.0.1:8088 is also the address of socket source 'app' (line 3), and "
        "only one listener can bind it; give this source another port"
    ]


# --- events from requests -----------------------------------------------------------------------


def test_event_type_and_event_id_must_compile_as_jmespath(tmp_path: Path) -> None:
    text = SOURCES + GITHUB + "    event_type: 'request.headers.['\n    event_id: '  '\n"
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert said(lines, path, "8:35") == [
        "sources[0] (name='gh').event_type: JMESPath syntax error at column 18: the expression ends too early; "
        "check for an unclosed bracket or a dangling operator"
    ]
    assert said(lines, path, "9:15") == [
        "sources[0] (name='gh').event_id: event_id is blank; write a JMESPath expression, like "
        'request.headers."x-request-id", or remove event_id'
    ]


def test_a_scheme_without_a_timestamp_or_an_id_is_warned_about(tmp_path: Path) -> None:
    """gitlab, api_key, basic and hmac without timestamp_header: a captured request can be sent again.
    github gives an id of its own; event_id or timestamp_header also quiet it."""
    warning = (
        "signs no timestamp, so a captured request can be sent again, and without an id each copy is a new "
        "event; set event_id to the sender's delivery id, like event_id: 'request.headers.\"x-delivery-id\"'"
    )
    text = SOURCES + (
        _source("gl", "127.0.0.1:8088", "/gl").replace("github", "gitlab")
        + "  - name: hm\n    type: http\n    listen: 127.0.0.1:8088\n    path: /hm\n"
        "    verify: {type: hmac, secret: '${GH_SECRET}', header: X-Sig}\n"
        + "  - name: hmts\n    type: http\n    listen: 127.0.0.1:8088\n    path: /hmts\n"
        "    verify: {type: hmac, secret: '${GH_SECRET}', header: X-Sig, timestamp_header: X-Ts,\n"
        "             content: '{timestamp}.{body}'}\n"
        + _source("gh", "127.0.0.1:8088", "/gh")
        + _source("key", "127.0.0.1:8088", "/key", "    event_id: 'request.headers.\"x-id\"'\n").replace(
            "type: github", "type: api_key, header: X-Key"
        )
    )
    code, lines, path = validate(tmp_path, text)
    assert code == 0, lines
    assert said(lines, path, "7:20", "warning") == [f"sources[0] (name='gl').verify.type: verify type gitlab {warning}"]
    assert said(lines, path, "12:20", "warning") == [
        f"sources[1] (name='hm').verify.type: verify type hmac without timestamp_header {warning}, or add "
        "timestamp_header"
    ]
    assert len([line for line in lines if ": warning: " in line]) == 2


# --- verify -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verify", "at", "message"),
    [
        (
            "{type: gitlab}",
            "7:13",
            "sources[0] (name='gh').verify: verify type gitlab needs a secret: like secret: ${WEBHOOK_SECRET}, or "
            "secrets: [new, old] during a rotation",
        ),
        (
            "{type: basic, username: ci}",
            "7:13",
            "sources[0] (name='gh').verify: verify type basic needs a password: like secret: ${WEBHOOK_SECRET}, or "
            "secrets: [new, old] during a rotation",
        ),
        (
            "{type: api_key, secret: '${GH_SECRET}'}",
            "7:13",
            "sources[0] (name='gh').verify: verify type api_key needs exactly one of header (like header: X-Api-Key) "
            "or query (like query: key): where the sender puts the key",
        ),
        (
            "{type: api_key, secret: '${GH_SECRET}', header: X-Key, query: key}",
            "7:13",
            "sources[0] (name='gh').verify: verify type api_key needs exactly one of header (like header: X-Api-Key) "
            "or query (like query: key): where the sender puts the key",
        ),
        (
            "{type: hmac, secret: '${GH_SECRET}'}",
            "7:13",
            "sources[0] (name='gh').verify: missing required key 'header'",
        ),
        (
            "{type: standard}",
            "7:13",
            "sources[0] (name='gh').verify: verify type standard needs secrets (or secret), public_key, or both: "
            "like secret: ${WHSEC} (the sender's whsec_ secret) or public_key: whpk_... (its Ed25519 public key)",
        ),
        (
            "{type: standard, secret: '${GH_SECRET}'}",
            "7:38",
            "sources[0] (name='gh').verify.secret: the secret does not start with whsec_; a Standard Webhooks "
            "secret is whsec_ followed by base64, as `hookd secret generate` prints it",
        ),
        (
            "{type: standard, public_key: whpk_abc}",
            "7:42",
            "sources[0] (name='gh').verify.public_key: public_key holds 2 bytes, and an Ed25519 public key is 32; "
            "copy the whole whpk_ key",
        ),
        (
            "{type: github, secret: '${GH_SECRET}', header: X-Sig}",
            "7:52",
            "sources[0] (name='gh').verify.header: unknown key 'header' (allowed here: secret, secrets, type, "
            "verify_token)",
        ),
        (
            "{type: github, secret: '${GH_SECRET}', secrets: ['${GH_SECRET}']}",
            "7:28",
            "sources[0] (name='gh').verify.secret: give secrets (a list, newest first) or secret (one), not both; "
            "during a rotation list both under secrets",
        ),
        (
            "{type: stripe, secret: '${GH_SECRET}', tolerance: 0s}",
            "7:63",
            "sources[0] (name='gh').verify.tolerance: tolerance must be longer than 0s",
        ),
    ],
)
def test_verify_mistakes(tmp_path: Path, verify: str, at: str, message: str) -> None:
    text = SOURCES + GITHUB.replace("{type: github, secret: '${GH_SECRET}'}", verify)
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert said(lines, path, at) == [message], lines


def test_a_literal_verify_secret_is_a_warning_and_hidden(tmp_path: Path) -> None:
    """As for signing: written in the file, it is a warning there, and hidden by value at run time.
    The Meta verify_token is a secret too."""
    text = SOURCES + GITHUB.replace("'${GH_SECRET}'", "literal-secret-1234, verify_token: literal-token-5678")
    code, lines, path = validate(tmp_path, text)
    assert code == 0
    warning = (
        "a secret written in the config file: whoever can read the file or its git history has it; take it from "
        "the environment or a file instead, like ${WEBHOOK_SECRET} or ${file:/run/secrets/webhook_secret}"
    )
    assert said(lines, path, "7:36", "warning") == [f"sources[0] (name='gh').verify.secret: {warning}"]
    assert said(lines, path, "7:71", "warning") == [f"sources[0] (name='gh').verify.verify_token: {warning}"]
    hidden = dict(load_config(path, env={}).secrets)
    assert hidden["literal-secret-1234"] == "***" and hidden["literal-token-5678"] == "***"


def test_a_short_verify_secret_from_the_environment_is_warned_about(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, SOURCES + GITHUB, {"GH_SECRET": "short"})
    assert code == 0
    assert said(lines, path, "7:36", "warning") == [
        "sources[0] (name='gh').verify.secret: the value of ${GH_SECRET} is only 5 character(s) long: hookd hides "
        "secrets by value only from 8 characters on, so this one may appear in logs, history and command output; "
        "use a longer secret, or write the value in the config if it is not one"
    ]


# --- response -----------------------------------------------------------------------------------


def test_async_answers_take_a_status_number_and_nothing_to_render(tmp_path: Path) -> None:
    response = "{status: '{{ event.id }}', body: {a: 1}, headers: {X-A: '{{ event.id }}'}}"
    text = SOURCES + GITHUB + f"    response: {response}\n"
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    where = "sources[0] (name='gh').response"
    assert said(lines, path, "8:24") == [
        f"{where}.status: status is a template, which only mode: sync renders (over the deliveries it waits for); "
        "in async mode give a number, like 202"
    ]
    assert said(lines, path, "8:42") == [
        f'{where}.body: an async answer is always {{"id": "<event id>"}}, so body is used only in mode: sync; '
        "remove it, or use mode: sync"
    ]
    assert said(lines, path, "8:71") == [
        f"{where}.headers.X-A: header templates are rendered only in mode: sync; write a fixed value, or use mode: sync"
    ]


@pytest.mark.parametrize(
    ("response", "at", "message"),
    [
        ("{mode: sync, status: 700}", "8:36", "status 700 is not an HTTP status; use one from 100 to 599, like 202"),
        ("{status: 99}", "8:24", "status 99 is not an HTTP status; use one from 100 to 599, like 202"),
        (
            "{mode: sync, body: {ok: '{{ event.id '}}",
            "8:39",
            "'{{' is never closed; end the expression with '}}' (response templates see {event, deliveries})",
        ),
        ("{mode: sync, timeout: 0}", "8:37", "timeout must be longer than 0s"),
        ("{mode: sync, max_waiting: 0}", "8:41", "the minimum is 1"),
    ],
)
def test_response_mistakes(tmp_path: Path, response: str, at: str, message: str) -> None:
    code, lines, path = validate(tmp_path, SOURCES + GITHUB + f"    response: {response}\n")
    assert code == 1
    [said_here] = said(lines, path, at)
    assert said_here.endswith(message), lines


def test_sync_templates_over_deliveries_validate(tmp_path: Path) -> None:
    """Templates over {event, deliveries} are compiled, not held to an event's fields."""
    text = (
        SOURCES
        + GITHUB
        + (
            "    response:\n"
            "      mode: sync\n"
            "      status: '{{ deliveries[0].response.status }}'\n"
            "      headers: {X-Event: '{{ event.id }}'}\n"
            "      body: {count: '{{ length(deliveries) }}'}\n"
        )
    )
    code, lines, path = validate(tmp_path, text)
    assert (code, lines) == (0, [f"ok {path}: 0 hook(s), 1 source(s)"])


def test_async_only_settings_of_sync_are_warned_about(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, SOURCES + GITHUB + "    response: {timeout: 5s}\n")
    assert code == 0
    assert said(lines, path, "8:16", "warning") == [
        "sources[0] (name='gh').response.timeout: timeout has no effect in async mode, which answers once the "
        "event is stored; remove it, or use mode: sync"
    ]


# --- tls ----------------------------------------------------------------------------------------


def test_tls_files_must_exist(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("pem", encoding="utf-8")
    (tmp_path / "dir").mkdir()
    code, lines, path = validate(tmp_path, SOURCES + GITHUB + "    tls: {cert_file: cert.pem, key_file: dir}\n")
    assert code == 1
    assert [line for line in lines if ": error: " in line] == [
        f"{path}:8:42: error: sources[0] (name='gh').tls.key_file: {str(tmp_path / 'dir')!r} is a directory; give "
        "the PEM file itself"
    ]
    code, lines, path = validate(tmp_path, SOURCES + GITHUB + "    tls: {cert_file: gone.pem, key_file: cert.pem}\n")
    assert said(lines, path, "8:22") == [
        f"sources[0] (name='gh').tls.cert_file: {str(tmp_path / 'gone.pem')!r} does not exist; give the PEM file "
        "(relative paths start at the config file's directory)"
    ]


# --- forward ------------------------------------------------------------------------------------

FORWARD_HOOK = "version: 1\nhooks:\n  - name: relay\n    events: ['github.*']\n    url: https://ci.example/h\n"


@pytest.mark.parametrize("key", ["payload: {a: 1}", "preset: slack", "format: form", "batch: {max_events: 10}"])
def test_forward_sends_the_raw_body_so_a_hook_with_one_has_no_other_body(tmp_path: Path, key: str) -> None:
    text = FORWARD_HOOK + "    forward: {body: raw}\n" + f"    {key}\n"
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    name = key.split(":")[0]
    assert (
        f"{path}:7:5: error: hooks[0] (name='relay').{name}: forward sends the request body as it arrived, so the "
        f"hook has no {name}; remove {name}, or remove forward"
    ) in lines


def test_forward_header_names(tmp_path: Path) -> None:
    text = FORWARD_HOOK + "    forward: {headers: [x-github-event, X-GitHub-Event, authorization, 'bad name']}\n"
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    where = "hooks[0] (name='relay').forward.headers"
    assert said(lines, path, "6:41", "warning") == [
        f"{where}[1]: X-GitHub-Event is already listed; list each header once"
    ]
    assert said(lines, path, "6:57", "warning") == [
        f"{where}[2]: authorization is a credential, which hookd removes from the stored request, so there is none "
        "to forward; remove it (give the receiver its own credential with auth:)"
    ]
    assert said(lines, path, "6:72") == [
        f"{where}[3]: 'bad name' is not a valid HTTP header name; use letters, digits and '-', like x-github-event"
    ]


def test_forward_is_only_for_hooks(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, SOURCES + GITHUB + "    forward: {body: raw}\n")
    assert code == 1
    assert said(lines, path, "8:5")[0].startswith("sources[0] (name='gh').forward: unknown key 'forward'")


# --- the published schema -----------------------------------------------------------------------


def _schema_errors(text: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema())
    return [e.message for e in validator.iter_errors(yaml.safe_load(text))]


def test_the_schema_accepts_what_loads() -> None:
    text = (
        SOURCES
        + GITHUB
        + (
            "    methods: [POST, PUT]\n"
            "    allow_ips: [192.0.2.0/24]\n"
            "    response: {mode: sync, status: '{{ deliveries[0].response.status }}', timeout: 5s}\n"
            "    tls: {cert_file: c.pem, key_file: k.pem}\n"
            "  - name: key\n    type: http\n    listen: 127.0.0.1:8088\n    path: /k\n"
            "    verify: {type: api_key, secrets: [a, b], query: key, verify_token: t}\n"
            "hooks:\n  - name: relay\n    events: ['*']\n    url: https://ci.example/h\n"
            "    forward: {body: raw, headers: [x-hub-signature-256]}\n"
        )
    )
    assert _schema_errors(text) == []


@pytest.mark.parametrize(
    "text",
    [
        SOURCES + "  - {name: a, type: http, path: /a}\n",  # no listen
        SOURCES + "  - {name: a, type: http, listen: '127.0.0.1:1', path: a}\n",  # path without /
        SOURCES + GITHUB.replace("type: github,", "type: hmac,"),  # hmac without header
        SOURCES + GITHUB.replace("type: github,", "type: github, tolerance: 5m,"),  # github signs no timestamp
        SOURCES + GITHUB.replace("type: github,", "type: signal,"),  # no such type
        SOURCES + GITHUB + "    tls: {cert_file: c.pem}\n",  # no key_file
        SOURCES + GITHUB + "    response: {mode: later}\n",
        SOURCES + GITHUB + "    response: {max_waiting: 0}\n",
        FORWARD_HOOK + "    forward: {body: parsed}\n",
        FORWARD_HOOK + "    forward: {body: raw}\n    payload: {a: 1}\n",
    ],
)
def test_the_schema_refuses_the_basics(text: str) -> None:
    assert _schema_errors(text) != []


def test_the_schema_describes_every_http_key() -> None:
    """Editors show each key's description on hover."""
    defs = schema()["$defs"]
    assert isinstance(defs, dict)
    for name in ("http_source", "response", "listen_tls", *(f"verify_{k}" for k in ("hmac", "api_key", "standard"))):
        for key, node in defs[name]["properties"].items():
            if key not in ("name", "type"):
                assert "description" in node, f"$defs/{name}/properties/{key} has no description"
    for key, node in defs["hook"]["properties"]["forward"]["properties"].items():
        assert "description" in node, key


def test_check_config_counts_http_sources(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(SOURCES + GITHUB, encoding="utf-8")
    result = check_config(path, env={"GH_SECRET": "gh-secret-value-1234"})
    assert result.settings is not None and len(result.settings.sources) == 1


def test_a_status_written_as_202_0_loads_as_the_number_202(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(SOURCES + GITHUB + "    response: {status: 202.0}\n", encoding="utf-8")
    [source] = load_config(path, env={"GH_SECRET": "gh-secret-value-1234"}).sources
    assert source.response.status == 202 and isinstance(source.response.status, int)


def test_hmac_content_fields_need_their_headers_and_a_checked_timestamp_must_be_signed(tmp_path: Path) -> None:
    """hmac verify whose content signs {timestamp} without timestamp_header (the source could not be
    built: error), and one with timestamp_header whose content does not sign it (warning)."""
    head = SOURCES + GITHUB.replace("verify: {type: github, secret: '${GH_SECRET}'}", "verify: {VERIFY}")
    code, lines, _ = validate(
        tmp_path,
        head.replace("{VERIFY}", "{type: hmac, header: X-Sig, secret: '${GH_SECRET}', content: '{timestamp}.{body}'}"),
    )
    assert code == 1
    assert any("content signs {timestamp}, and no timestamp_header says" in line for line in lines)
    code, lines, _path = validate(
        tmp_path,
        head.replace("{VERIFY}", "{type: hmac, header: X-Sig, secret: '${GH_SECRET}', timestamp_header: X-Ts}"),
    )
    assert code == 0
    assert any("warning" in line and "content does not sign it" in line for line in lines)


def test_tls_files_that_are_not_a_certificate_and_its_key_are_an_error(tmp_path: Path) -> None:
    """A cert_file and key_file that exist but are not PEM: said by validate, not when serve starts."""
    (tmp_path / "c.pem").write_text("not a certificate", encoding="utf-8")
    (tmp_path / "k.pem").write_text("not a key", encoding="utf-8")
    code, lines, _ = validate(tmp_path, SOURCES + GITHUB + "    tls: {cert_file: c.pem, key_file: k.pem}\n")
    assert code == 1
    assert any("cannot be loaded together" in line and "its own private key" in line for line in lines)
