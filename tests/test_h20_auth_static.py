"""`auth:` bearer, basic and api_key (header or query): what goes out, what history and `hookd test`
show (***), and that no credential follows a redirect to another host, whatever the auth type."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hookd.cli.history  # registers `hookd history`
import hookd.cli.test_cmd  # noqa: F401  registers `hookd test`
from hookd.cli.app import app
from hookd.config.load import check_config
from hookd.config.model import ApiKeyAuth, AuthConfig, BasicAuth, BearerAuth, JwtAuth, OAuth2Auth, SigningConfig
from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import HttpSender
from tests.auth_servers import CLIENT_ID, CLIENT_SECRET, Echo, oauth2_servers, serving
from tests.conftest import event_line, running_daemon, send_lines, wait_db, write_config

TOKEN = "static-bearer-token-0123456789"
KEY = "key/with+odd&chars=0123456789"


# The destination guard checks a redirect's target; these tests' other host is a loopback server.
LOOPBACK = ("127.0.0.0/8", "::1/128")


def other_host(url: str) -> str:
    """The same server under another host name: localhost for 127.0.0.1."""
    return url.replace("//127.0.0.1:", "//localhost:", 1)


@asynccontextmanager
async def sending(auth: AuthConfig | None) -> AsyncIterator[HttpSender]:
    sender = HttpSender(endpoints={"crm": EndpointSpec("crm", auth=auth, allow_destinations=LOOPBACK)})
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


async def send_once(auth: AuthConfig, url: str, *, follow: bool = False) -> Outcome:
    request = OutboundRequest(method="POST", url=url, headers={}, body=b"{}", timeout_s=10.0, endpoint="crm",
                              follow_redirects=follow)  # fmt: skip
    async with sending(auth) as sender:
        return await sender.send(request)


async def test_bearer_sends_the_token() -> None:
    """`Authorization: Bearer <token>` on the request, nothing else added."""
    async with serving(echo := Echo()):
        assert (await send_once(BearerAuth(token=TOKEN), echo.url())).ok
    [(_, headers, query)] = echo.requests
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert query == {}


async def test_basic_sends_base64_of_username_and_password_as_utf8() -> None:
    """`Authorization: Basic base64("shöp:<password>")` in UTF-8 (RFC 7617)."""
    async with serving(echo := Echo()):
        assert (await send_once(BasicAuth(username="shöp", password="pä:ss word"), echo.url())).ok
    [(_, headers, _)] = echo.requests
    scheme, _, encoded = headers["Authorization"].partition(" ")
    assert (scheme, base64.b64decode(encoded).decode("utf-8")) == ("Basic", "shöp:pä:ss word")


async def test_api_key_in_a_header() -> None:
    """The key in the header the auth names."""
    async with serving(echo := Echo()):
        assert (await send_once(ApiKeyAuth(value=KEY, header="X-API-Key"), echo.url())).ok
    [(_, headers, _)] = echo.requests
    assert headers["X-API-Key"] == KEY and "Authorization" not in headers


async def test_api_key_in_the_query_keeps_the_url_as_written() -> None:
    """The key added as a query parameter, percent-encoded, after the URL's own query, which stays
    exactly as written (an escape stays an escape)."""
    async with serving(echo := Echo()):
        outcome = await send_once(ApiKeyAuth(value=KEY, query="api_key"), echo.url("/hook?sig=a%2Fb&x=1"))
    assert outcome.ok
    [(_, headers, query)] = echo.requests
    assert query == {"sig": "a/b", "x": "1", "api_key": KEY}
    assert "Authorization" not in headers


CREDENTIALS = {
    "bearer": BearerAuth(token=TOKEN),
    "basic": BasicAuth(username="shop", password="basic-password-0123"),
    "api_key header": ApiKeyAuth(value=KEY, header="X-API-Key"),
    "api_key query": ApiKeyAuth(value=KEY, query="api_key"),
    "jwt": JwtAuth(algorithm="HS256", secret="jwt-secret-0123456789abcdef0123456789"),
    "oauth2": None,  # made per test, against its token endpoint
}


@pytest.mark.parametrize("kind", sorted(CREDENTIALS))
async def test_no_credential_follows_a_redirect_to_another_host(kind: str) -> None:
    """The hook's endpoint redirects (307) within its host, then to another host (whose Location
    even repeats an api_key query parameter): the request there carries no Authorization, no key
    header and no key in the query; the redirect within the host kept them all."""
    async with oauth2_servers() as (tokens, _), serving(here := Echo()), serving(there := Echo()):
        auth = CREDENTIALS[kind] or OAuth2Auth(
            token_url=tokens.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, client_auth="basic"
        )
        here.redirects["/hook"] = "/same"
        repeated = f"api_key={KEY.replace('+', '%2B').replace('&', '%26')}&" if kind == "api_key query" else ""
        here.redirects["/same"] = other_host(there.url(f"/other?{repeated}k=v"))
        outcome = await send_once(auth, here.url("/hook"), follow=True)

    assert outcome.ok, outcome.error
    [(_, first, first_query), (_, same, same_query)] = here.requests
    [(_, other, other_query)] = there.requests
    carried = {"Authorization", "X-API-Key"} & first.keys() or {"api_key"} & first_query.keys()
    assert carried  # the first request had the credentials
    assert {k: same.get(k) for k in carried} == {k: first.get(k) for k in carried}
    assert same_query.get("api_key") == first_query.get("api_key")
    assert "Authorization" not in other and "X-API-Key" not in other
    assert other_query == {"k": "v"}


def config_text(directory: Path, url: str) -> str:
    return f"""
        version: 1
        storage: {{path: {directory}/hookd.db}}
        sources: [{{name: app, type: socket, path: {directory}/s.sock}}]
        hooks:
          - name: bearer
            events: ["*"]
            url: "{url}/bearer"
            auth: {{type: bearer, token: "${{HOOK_TOKEN}}"}}
          - name: keyed
            events: ["*"]
            url: "{url}/keyed"
            auth: {{type: api_key, header: X-API-Key, value: "${{HOOK_KEY}}"}}
          - name: queried
            events: ["*"]
            url: "{url}/queried?x=1"
            auth: {{type: api_key, query: key, value: "${{HOOK_KEY}}"}}
        """


async def test_history_shows_the_auth_headers_as_stars(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon delivers to a bearer hook, an api_key header hook and an api_key query hook: the
    receiver gets the real credentials; `hookd history show` lists Authorization: *** and
    X-API-Key: ***, the URL without the key, and neither secret anywhere."""
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_KEY", KEY)
    async with serving(echo := Echo()):
        base = echo.url("").rstrip("/")
        cfg = write_config(short_dir, config_text(short_dir, base))
        async with running_daemon(cfg):
            await send_lines(short_dir / "s.sock", [event_line(id="e1")])
            await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)] * 3)

    sent = {path: (headers, query) for path, headers, query in echo.requests}
    assert sent["/bearer"][0]["Authorization"] == f"Bearer {TOKEN}"
    assert sent["/keyed"][0]["X-API-Key"] == KEY
    assert sent["/queried"][1] == {"x": "1", "key": KEY}
    runner = CliRunner()
    shown = await asyncio.to_thread(runner.invoke, app, ["history", "show", "e1", "-c", str(cfg)])
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert re.search(r"Authorization: \*\*\*", text) and re.search(r"X-API-Key: \*\*\*", text), text
    assert f"{base}/queried?x=1" in text
    assert TOKEN not in text and KEY not in text


def test_hookd_test_shows_the_auth_headers_as_stars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`hookd test` (no sending) prints each matched request with the header its auth adds, as ***."""
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_KEY", KEY)
    cfg = write_config(tmp_path, config_text(tmp_path, "https://crm.example"))
    events = tmp_path / "events.jsonl"
    events.write_text('{"id": "e1", "type": "order.created", "data": {}}\n')

    result = CliRunner().invoke(app, ["test", "-c", str(cfg), str(events)])

    assert result.exit_code == 0, result.output
    assert result.output.count("Authorization: ***") == 1 and result.output.count("X-API-Key: ***") == 1
    assert TOKEN not in result.output and KEY not in result.output


async def test_hookd_test_send_authenticates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`hookd test --send` sends through the same endpoint profile: the receiver gets the bearer token."""
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_KEY", KEY)
    async with serving(echo := Echo()):
        cfg = write_config(tmp_path, config_text(tmp_path, echo.url("").rstrip("/")))
        events = tmp_path / "events.jsonl"
        events.write_text('{"id": "e1", "type": "order.created", "data": {}}\n')
        result = await asyncio.to_thread(CliRunner().invoke, app, ["test", "-c", str(cfg), "--send", str(events)])

    assert result.exit_code == 0, result.output
    sent = {path: headers for path, headers, _ in echo.requests}
    assert sent["/bearer"]["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in result.output and KEY not in result.output


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        ("{type: api_key, value: '${K}'}", "auth: an api_key auth needs exactly one of header:"),
        ("{type: api_key, value: '${K}', header: X-K, query: k}", "auth: an api_key auth needs exactly one of header:"),
        ("{type: api_key, value: '${K}', header: 'X K'}", "auth.header: 'X K' is not a valid HTTP header name"),
        ("{type: api_key, value: '${K}', query: sig}",
         "auth.query: the hook's url already has a query parameter 'sig'"),
        ("{type: basic, username: 'a:b', password: '${K}'}", "auth.username: a Basic username cannot contain ':'"),
        ("{type: bearer, token: '${K}', password: x}",
         "auth.password: unknown key 'password' (allowed here: token, type)"),
        ("{type: oauth2, token_url: 'ftp://idp/token', client_id: c, client_secret: '${K}'}",
         "auth.token_url: token_url must be an http:// or https:// URL"),
        ("{type: oauth2, token_url: 'https://idp/token', client_id: c}", "auth: missing required key 'client_secret'"),
        ("{type: oauth2, token_url: 'https://idp/t', client_id: c, client_secret: '${K}', client_auth: jwt}",
         "auth.client_auth: 'jwt' is not one of: basic, post"),
        ("{type: jwt, algorithm: HS256, secret: '${K}', claims: {exp: 1}}", "auth.claims.exp: hookd sets exp"),
        ("{type: jwt, algorithm: HS256, secret: '${K}', ttl: 0s}", "auth.ttl: ttl must be a finite duration"),
        ("{type: jwt, algorithm: PS256, secret: '${K}'}", "auth.algorithm: 'PS256' is not one of: HS256"),
        ("{type: kerberos}", "auth.type: 'kerberos' is not one of: bearer, basic, api_key, oauth2, jwt"),
    ],
)  # fmt: skip
def test_auth_config_problems_name_the_field(tmp_path: Path, auth: str, problem: str) -> None:
    """Each mistake is an error at the auth's line, naming the field, without the secret's value."""
    path = tmp_path / "hookd.yaml"
    path.write_text(f"version: 1\nhooks:\n  - name: h\n    events: [x]\n    url: 'https://crm.example/h?sig=1'\n"
                    f"    auth: {auth}\n")  # fmt: skip
    result = check_config(path, env={"K": KEY})

    assert result.settings is None
    assert any(f"{p.path}: {p.message}".startswith(f"hooks[0] (name='h').{problem}") for p in result.errors), [
        f"{p.path}: {p.message}" for p in result.errors
    ]
    assert all(p.line == 6 for p in result.errors)
    assert all(KEY not in p.message for p in result.problems)


def test_auth_and_a_configured_header_of_the_same_name_collide(tmp_path: Path) -> None:
    """An Authorization header with a bearer auth, or the api_key's header set in headers too: an
    error at the header, saying the auth sends it."""
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\nhooks:\n"
        "  - name: a\n    events: [x]\n    url: https://a.example\n    headers: {authorization: '${K}'}\n"
        "    auth: {type: bearer, token: '${K}'}\n"
        "  - name: b\n    events: [x]\n    url: https://b.example\n    headers: {x-api-key: '${K}'}\n"
        "    auth: {type: api_key, header: X-API-Key, value: '${K}'}\n"
    )
    result = check_config(path, env={"K": KEY})
    assert [(p.line, p.path, p.message) for p in result.errors] == [
        (6, "hooks[0] (name='a').headers.authorization",
         "auth (type bearer) sends the Authorization header; remove it from headers"),
        (12, "hooks[1] (name='b').auth.header",
         "X-API-Key is also set in the hook's headers; the api_key sends it: remove it from headers"),
    ]  # fmt: skip


def test_hooks_sharing_a_token_must_share_its_client_secret(tmp_path: Path) -> None:
    """Two oauth2 hooks with the same token_url, client_id, scope and audience but different client
    secrets: an error on the second, naming the first; another scope is fine."""
    path = tmp_path / "hookd.yaml"
    hook = "  - {{name: {}, events: [x], url: 'https://a.example', auth: {{type: oauth2, token_url: " \
           "'https://idp.example/token', client_id: c, client_secret: '{}'{}}}}}\n"  # fmt: skip
    path.write_text(
        "version: 1\nhooks:\n"
        + hook.format("a", "${S1}", "")
        + hook.format("b", "${S2}", "")
        + hook.format("c", "${S2}", ", scope: other")
    )
    result = check_config(path, env={"S1": "secret-one-0123", "S2": "secret-two-0123"})
    assert [(p.line, p.path) for p in result.errors] == [(4, "hooks[1] (name='b').auth.client_secret")]
    assert "hook 'a' (hooks[0]) uses the same token" in result.errors[0].message


def test_every_auth_type_loads_into_its_record(tmp_path: Path) -> None:
    """The loader turns each auth block into its frozen record, defaults applied (client_auth basic,
    ttl 60s, no claims)."""
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\nhooks:\n"
        "  - {name: a, events: [x], url: 'https://a.example', auth: {type: bearer, token: '${K}'}}\n"
        "  - {name: b, events: [x], url: 'https://a.example', auth: {type: basic, username: u, password: ''}}\n"
        "  - {name: c, events: [x], url: 'https://a.example', auth: {type: api_key, query: k, value: '${K}'}}\n"
        "  - {name: d, events: [x], url: 'https://a.example', auth: {type: oauth2, token_url: 'https://i/t',"
        " client_id: c, client_secret: '${K}', audience: crm}}\n"
        "  - {name: e, events: [x], url: 'https://a.example', auth: {type: jwt, algorithm: HS512, secret: '${K}',"
        " claims: {iss: hookd, n: [1, 2]}, ttl: 2m}}\n"
    )
    result = check_config(path, env={"K": KEY * 3})
    assert result.settings is not None, result.problems
    assert [h.auth for h in result.settings.hooks] == [
        BearerAuth(token=KEY * 3),
        BasicAuth(username="u", password=""),
        ApiKeyAuth(value=KEY * 3, query="k"),
        OAuth2Auth(token_url="https://i/t", client_id="c", client_secret=KEY * 3, audience="crm"),
        JwtAuth(algorithm="HS512", secret=KEY * 3, claims=(("iss", "hookd"), ("n", [1, 2])), ttl_s=120.0),
    ]
    assert result.settings.hooks[3].auth.client_auth == "basic"  # type: ignore[union-attr]
    assert KEY * 3 not in repr(result.settings.hooks)


def test_a_short_auth_secret_from_the_environment_is_a_warning(tmp_path: Path) -> None:
    """A bearer token from ${T} of 5 characters cannot be hidden by value: validate warns, naming
    the variable; a short ${CLIENT} client_id (not a secret) gets no warning."""
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\nhooks:\n"
        "  - {name: a, events: [x], url: 'https://a.example', auth: {type: bearer, token: '${T}'}}\n"
        "  - {name: b, events: [x], url: 'https://a.example', auth: {type: oauth2, token_url: 'https://i/t',"
        " client_id: '${CLIENT}', client_secret: '${CS}'}}\n"
    )
    result = check_config(path, env={"T": "short", "CLIENT": "c1", "CS": "client-secret-0123"})
    assert result.settings is not None
    assert [(p.severity, p.path) for p in result.problems] == [("warning", "hooks[0] (name='a').auth.token")]
    assert "the value of ${T} is only 5 character(s) long" in result.problems[0].message


async def test_a_signature_follows_a_redirect_to_another_host_but_the_credentials_do_not() -> None:
    """A hook with signing (github) and a bearer auth, redirected to another host: the request
    there still carries the signature (it proves the body), but no Authorization."""
    spec = EndpointSpec("crm", signing=SigningConfig(type="github", secrets=("github-secret-0123456789",)),
                        auth=BearerAuth(token=TOKEN), allow_destinations=LOOPBACK)  # fmt: skip
    async with serving(here := Echo()), serving(there := Echo()):
        here.redirects["/hook"] = other_host(there.url("/other"))
        sender = HttpSender(endpoints={"crm": spec})
        try:
            request = OutboundRequest(method="POST", url=here.url("/hook"), headers={}, body=b"{}", timeout_s=10.0,
                                      endpoint="crm", follow_redirects=True)  # fmt: skip
            assert (await sender.send(request)).ok
        finally:
            await sender.close()

    [(_, first, _)] = here.requests
    [(_, other, _)] = there.requests
    assert first["Authorization"] == f"Bearer {TOKEN}"
    assert other["X-Hub-Signature-256"] == first["X-Hub-Signature-256"].strip() != ""
    assert "Authorization" not in other
    assert spec.added_headers == ("X-Hub-Signature-256", "Authorization")
