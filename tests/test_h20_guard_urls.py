"""Templated URLs (hookd.urls), rendered as the daemon renders a request: event data fills the path
and query as one percent-encoded component each, never moves the request to another host or path,
and picks a host only among allow_hosts."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.config.model import HookConfig
from hookd.redact import Redactor
from hookd.rendering import RequestRenderError, render_request
from hookd.router import Router, compile_hook
from hookd.urls import UrlRenderError, UrlTemplateError, compile_url


def render(url: str, data: object, *, allow_hosts: tuple[str, ...] = ()) -> str:
    """The URL the daemon would send an event with this `data` to."""
    router = Router([HookConfig(name="h", events=("*",), url=url, allow_hosts=allow_hosts)])
    body = orjson.dumps({"id": "e1", "type": "t", "time": "2024-01-01T00:00:00Z", "source": "s", "data": data})
    return render_request(router.by_name["h"], "d1", "e1", 1, body, 0.0).url


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("@10.0.0.5/", "https://api.shop.example/orders/%4010.0.0.5%2F/items"),
        ("../admin", "https://api.shop.example/orders/..%2Fadmin/items"),
        ("a?b#c", "https://api.shop.example/orders/a%3Fb%23c/items"),
        (42, "https://api.shop.example/orders/42/items"),
        ("é ü", "https://api.shop.example/orders/%C3%A9%20%C3%BC/items"),
    ],
)
def test_a_path_value_stays_inside_its_segment(value: object, sent: str) -> None:
    assert render("https://api.shop.example/orders/{{ data.p }}/items", {"p": value}) == sent


def test_a_query_value_is_one_value() -> None:
    """`&`, `=` and `#` in a value cannot add a parameter or cut the query."""
    url = render("https://api.shop.example/in?id={{ data.id }}&kind=order", {"id": "1&admin=true#x"})
    assert url == "https://api.shop.example/in?id=1%26admin%3Dtrue%23x&kind=order"


@given(st.text())
def test_no_value_changes_the_host_or_the_segments(value: str) -> None:
    """1. Any text as the value of a path segment and of a query parameter.
    2. The host, the number of path segments and the query's parameters are those of the template;
       the segment and the parameter decode to the value; or, for `.` and `..` alone, the delivery
       fails with the reason."""
    template = "https://api.shop.example/orders/{{ data.v }}/items?q={{ data.v }}&k=1"
    try:
        url = render(template, {"v": value})
    except RequestRenderError as e:
        assert value in (".", "..") and "would move the request to another path" in str(e)
        return
    parts = urlsplit(url)
    assert parts.hostname == "api.shop.example"
    segments = parts.path.split("/")
    assert len(segments) == 4 and segments[1] == "orders" and segments[3] == "items"
    assert unquote(segments[2], errors="surrogatepass") == value
    query = parts.query.split("&")
    assert len(query) == 2 and query[1] == "k=1"
    assert unquote(query[0].removeprefix("q="), errors="surrogatepass") == value


@pytest.mark.parametrize("value", [".", "..", "%2e%2E"])
def test_a_dot_segment_is_a_render_failure(value: str) -> None:
    """A value that makes a segment `..` (here `%2e%2E` stays encoded: `%` is data) would move the
    request up the receiver's tree: the delivery fails, naming the url."""
    if value.startswith("%"):
        assert render("https://x.example/a/{{ data.v }}/b", {"v": value}) == "https://x.example/a/%252e%252E/b"
        return
    with pytest.raises(RequestRenderError, match=r"^url: a value makes the path segment '\.+', which would move"):
        render("https://x.example/a/{{ data.v }}/b", {"v": value})


HOSTS = ("*.shop.example", "partner.example")


@pytest.mark.parametrize(
    ("shop", "sent"),
    [
        ("eu", "https://eu.shop.example/hook"),
        ("EU-2", "https://eu-2.shop.example/hook"),
    ],
)
def test_allow_hosts_accepts_a_listed_host(shop: str, sent: str) -> None:
    assert render("https://{{ data.shop }}.shop.example/hook", {"shop": shop}, allow_hosts=HOSTS) == sent


def test_a_whole_templated_host_matches_any_listed_pattern() -> None:
    url = "https://{{ data.host }}/hook"
    assert render(url, {"host": "partner.example"}, allow_hosts=HOSTS) == "https://partner.example/hook"
    assert render(url, {"host": "us.shop.example"}, allow_hosts=HOSTS) == "https://us.shop.example/hook"


def test_a_fully_qualified_host_with_its_trailing_dot_is_the_same_host() -> None:
    """A rendered host written as DNS writes a fully qualified name (`us.shop.example.`) is that host:
    sent to, matched against allow_hosts, and kept as one destination (rate limit, breaker, pause) with
    the name written without the dot, not failed for good as an invalid name. One dot only."""
    url = "https://{{ data.host }}/hook"
    assert render(url, {"host": "us.shop.example."}, allow_hosts=HOSTS) == "https://us.shop.example/hook"
    parsed = compile_url(url, allow_hosts=HOSTS)
    assert parsed.destination({"data": {"host": "US.shop.example."}}) == parsed.destination(
        {"data": {"host": "us.shop.example"}}
    )
    for bad in ("us.shop.example..", ".", "10.0.0.5."):
        with pytest.raises(RequestRenderError, match="is not a valid host name"):
            render(url, {"host": bad}, allow_hosts=HOSTS)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("evil.example", "the host 'evil.example' matches none of allow_hosts (*.shop.example, partner.example)"),
        ("a.b.shop.example", "matches none of allow_hosts"),  # `*` is one label
        ("shop.example", "matches none of allow_hosts"),
        ("evil.example/x", "the host 'evil.example/x' is not a valid host name"),
        ("evil.example:1@eu.shop.example", "is not a valid host name"),
        ("10.0.0.5", "the host '10.0.0.5' is not a valid host name"),
        ("", "the host '' is not a valid host name"),
    ],
)
def test_a_host_outside_allow_hosts_is_a_render_failure(host: str, reason: str) -> None:
    """The delivery fails for good with the reason naming allow_hosts; nothing is sent."""
    with pytest.raises(RequestRenderError, match=r"^url: ") as caught:
        render("https://{{ data.host }}/hook", {"host": host}, allow_hosts=HOSTS)
    assert reason in str(caught.value)


def test_a_templated_port_must_be_a_port() -> None:
    url = "https://{{ data.shop }}.shop.example:{{ data.port }}/hook"
    assert render(url, {"shop": "eu", "port": 8443}, allow_hosts=HOSTS) == "https://eu.shop.example:8443/hook"
    with pytest.raises(RequestRenderError, match=r"url: the port '80/evil' is not a number from 1 to 65535"):
        render(url, {"shop": "eu", "port": "80/evil"}, allow_hosts=HOSTS)


def test_an_expression_that_fails_is_a_render_failure() -> None:
    with pytest.raises(RequestRenderError, match=r"^url: \{\{ length\(data.n\) \}\} could not be evaluated"):
        render("https://x.example/{{ length(data.n) }}", {"n": 5})


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("{{ data.url }}", "the scheme of a templated url must be written out"),
        ("https://{{ data.host }}/x", "the host of url is templated, so the hook must list the hosts"),
        ("https://{{ data.u }}@x.example/", "the user:password part of url cannot be templated"),
        ("https://x.example{{ data.p }}", "the host of url is templated"),  # no `/`: still the host
        ("https://{{ data.u }}:pw@x.example/{{ data.id }}", "the user:password part of url cannot be templated"),
        ("https://x.example/#{{ data.id }}", "a #fragment is never sent to the receiver"),
        ("https://x.example:0/{{ data.id }}", "url has port '0'"),
    ],
)
def test_templates_that_could_move_the_request_do_not_compile(url: str, problem: str) -> None:
    with pytest.raises(UrlTemplateError) as caught:
        compile_url(url)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_a_destination_shows_a_config_secret_in_its_host_as_its_reference() -> None:
    """The destination a templated-host hook gates by is stored, listed and told to alert hooks: a
    `${VAR}` value in the host appears as its reference, also when written in capitals (the host itself
    is lower case), and the key stays one per host."""
    url = compile_url("https://{{ data.t }}.Zone-S3cret.example:{{ data.p }}/x", allow_hosts=["*.zone-s3cret.example"])

    def hide(text: str) -> str:
        return text.replace("Zone-S3cret", "${ZONE}")

    event = {"data": {"t": "ACME", "p": 8443}}
    assert url.destination(event, hide) == "acme.${ZONE}.example:8443"
    assert url.destination(event, lambda text: text.replace("zone-s3cret", "${ZONE}")) == "acme.${ZONE}.example:8443"
    assert url.destination(event) == "acme.zone-s3cret.example:8443"  # (no secrets known)


def test_a_reason_quoting_a_long_host_hides_the_secret_before_it_is_cut() -> None:
    """A host the event makes invalid is quoted in the reason, cut to a length: the secret in it is hidden
    first, or the cut would leave most of it where no redaction can find it (attacker's finding)."""
    secret = "tenantzone-s3cr3tvalue.example"
    hook = compile_hook(
        HookConfig(name="h", events=("*",), url=f"http://{{{{ data.t }}}}.{secret}:{{{{ data.p }}}}/x",
                   allow_hosts=(f"*.{secret}",)),
        Redactor([(secret, "${ZONE}")]),
    )  # fmt: skip
    assert hook.url is not None
    for t in ("_" + "x" * 59, "_" + "x" * 40, "bad_x"):
        with pytest.raises(UrlRenderError) as caught:
            hook.url.render({"data": {"t": t, "p": 8443}})
        reason = str(caught.value)
        assert "${ZONE}" in reason and "tenantzone" not in reason and "s3cr3t" not in reason, reason
    with pytest.raises(UrlRenderError) as caught:
        hook.url.render({"data": {"t": "acme", "p": 8443}} | {"data": {"t": "a.b", "p": 8443}})
    assert "s3cr3t" not in str(caught.value)
