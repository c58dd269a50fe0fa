"""The destination guard behind an outbound proxy: the proxy resolves names out of hookd's sight, so
hookd checks what it can (a destination written as an IP address) and validate says the rest is the
proxy's job."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Receiver
from tests.h20_tls_servers import forward_proxy
from tests.test_h20_guard_sender import deliver
from tests.test_h20_guard_validate import validate


async def test_behind_a_proxy_the_destination_is_checked_not_the_proxy(receiver: Receiver) -> None:
    """1. A real forward proxy on 127.0.0.2 (a private address the config names: trusted), and a hook
       whose templated url is written with the address 127.0.0.1.
    2. allow_destinations: [127.0.0.2/32] (the proxy's address, not the destination's): the attempt
       fails for good naming allow_destinations; neither the proxy nor the receiver sees a request
       (checking the proxy's address instead would have let it through).
    3. allow_destinations: [127.0.0.1/32]: it goes through the proxy and arrives (refusing the
       proxy's private address would have failed it)."""
    assert receiver.server is not None
    url = f"http://127.0.0.1:{receiver.server.port}/orders/{{{{ data.id }}}}"
    async with forward_proxy(host="127.0.0.2") as proxy:
        refused = await deliver(url, proxy=proxy.url, allow=("127.0.0.2/32",))
        assert (refused.ok, refused.retryable) == (False, False), refused.error
        assert "allow_destinations" in refused.error and "127.0.0.1" in refused.error
        assert proxy.requests == [] and receiver.requests == []

        allowed = await deliver(url, proxy=proxy.url, allow=("127.0.0.1/32",))
        assert allowed.ok, allowed.error
        assert len(proxy.requests) == 1
        assert [r.path for r in receiver.requests] == ["/orders/7"]


def test_validate_warns_that_the_proxy_must_guard_names(tmp_path: Path) -> None:
    """1. Hooks behind a proxy whose destinations the guard would check: a templated url, and
    follow_redirects. 2. validate warns for each, naming the proxy's job; a static hook behind
    the same proxy gets no such warning."""
    text = (
        "version: 1\ndelivery:\n  proxy: http://proxy.corp.example:3128\nhooks:\n"
        "  - name: a\n    events: [x]\n    url: 'https://api.example.com/o/{{ data.id }}'\n"
        "  - name: b\n    events: [x]\n    url: https://api.example.com/o\n    follow_redirects: true\n"
        "  - name: c\n    events: [x]\n    url: https://api.example.com/o\n"
    )
    code, lines, _ = validate(tmp_path, text)
    said = [line for line in lines if "make the proxy refuse internal addresses" in line]
    assert code == 0, lines
    assert len(said) == 2, lines
    assert "hooks[0]" in said[0] and "url" in said[0]
    assert "hooks[1]" in said[1] and "follow_redirects" in said[1]


async def test_behind_a_proxy_only_the_usual_ipv4_spelling_is_taken(receiver: Receiver) -> None:
    """1. Through the proxy on 127.0.0.2, hooks whose templated url writes 127.0.0.1 in spellings
       resolvers read differently: 2130706433, 127.1, 0x7f.0.0.1, 0177.0.0.1 (octal to one reader),
       0127.0.0.1 (octal 87.0.0.1 to hookd, decimal 127.0.0.1 to others), a trailing dot.
    2. Each is refused for good, saying to write the address as four decimal numbers, before the
       proxy (which could resolve it to loopback) sees a request; even an allow_destinations that
       covers the address hookd reads does not let such a spelling through."""
    assert receiver.server is not None
    async with forward_proxy(host="127.0.0.2") as proxy:
        for host in ("2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1", "0127.0.0.1", "127.0.0.1.", "010.0.0.1"):
            url = f"http://{host}:{receiver.server.port}/orders/{{{{ data.id }}}}"
            refused = await deliver(url, proxy=proxy.url, allow=("127.0.0.2/32", "87.0.0.0/8", "8.0.0.0/8"))
            assert (refused.ok, refused.retryable) == (False, False), (host, refused.error)
            if host == "127.0.0.1.":  # the usual spelling once the dot is dropped: judged as 127.0.0.1
                assert "127.0.0.1" in refused.error and "allow_destinations" in refused.error, refused.error
            else:
                assert "write an IPv4 address as four decimal numbers" in refused.error, (host, refused.error)
        assert proxy.requests == [] and receiver.requests == []
