"""Per-hook TLS against real HTTPS receivers on 127.0.0.1 with a CA made in the test (trustme): private
CAs (tls.ca_file), mutual TLS (client_cert, client_key), verify: false, and the client certificate
kept to the hook's own host across a redirect. Requests go through HttpSender with the endpoint
profiles the config compiles to, as the delivery worker, replay --wait and test --send use them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

import hookd.cli.test_cmd  # noqa: F401 - registers the command
from hookd.cli.app import app
from hookd.config.load import load_config
from hookd.router import Router
from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.http import HttpSender
from tests.conftest import Reply, write_config
from tests.h20_tls_servers import https_receiver, make_pki


def hook_config(directory: Path, url: str, extra: str = "") -> Path:
    """A config with one hook `h` to `url`; `extra` is more of the hook's keys, as YAML lines."""
    lines = "".join(f"    {line}\n" for line in extra.strip().splitlines())
    return write_config(directory, f"version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: {url}\n{lines}")


async def send_as_hook(config: Path, url: str | None = None) -> Outcome:
    """One attempt of hook `h` of `config`, through an HttpSender holding the config's endpoints."""
    settings = load_config(config)
    hook = settings.hooks[0]
    sender = HttpSender(endpoints=Router(settings.hooks, secrets=settings.secrets).endpoints)
    try:
        request = OutboundRequest(method="POST", url=url or hook.url, headers={"Content-Type": "application/json"},
                                  body=b"{}", timeout_s=10.0, follow_redirects=hook.follow_redirects,
                                  endpoint=hook.name)  # fmt: skip
        return await sender.send(request)
    finally:
        await sender.close()


def subject_cn(subject: object) -> str | None:
    """The commonName of an ssl peer-certificate subject (a tuple of RDN tuples), or None."""
    for rdn in subject or ():  # type: ignore[attr-defined]
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


async def test_a_private_ca_is_refused_without_ca_file_with_a_clear_tls_error(tmp_path: Path) -> None:
    # Verification is on by default: a receiver whose CA the system does not trust is refused, with
    # a reason that says the certificate was refused and that tls.ca_file is the fix.
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki) as rec:
        outcome = await send_as_hook(hook_config(tmp_path, rec.url("/in")))
        assert not outcome.ok and outcome.retryable and outcome.status is None
        assert outcome.error is not None
        assert outcome.error.startswith(f"TLS error: the certificate of 127.0.0.1:{rec.server.port} was refused (")  # type: ignore[union-attr]
        assert "tls.ca_file" in outcome.error
        assert rec.requests == []


async def test_ca_file_trusts_that_bundle(tmp_path: Path) -> None:
    # tls.ca_file: the receiver's private CA is trusted, and the request arrives.
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki) as rec:
        config = hook_config(tmp_path, rec.url("/in"), f"tls: {{ca_file: {pki.ca_file}}}")
        outcome = await send_as_hook(config)
        assert outcome.ok, outcome.error
        assert [r.path for r in rec.requests] == ["/in"]


async def test_ca_file_trusts_only_that_bundle(tmp_path: Path) -> None:
    # A bundle of another CA does not vouch for this receiver: ca_file replaces trust, it does not add
    # anything to the receiver's CA.
    pki = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other")
    async with https_receiver(pki) as rec:
        outcome = await send_as_hook(hook_config(tmp_path, rec.url("/in"), f"tls: {{ca_file: {other.ca_file}}}"))
        assert not outcome.ok and "was refused" in (outcome.error or "")
        assert rec.requests == []


async def test_ca_file_is_relative_to_the_config_files_directory(tmp_path: Path) -> None:
    # As other paths of the config, a relative ca_file starts at the config file's directory (not the
    # working directory of the process).
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki) as rec:
        outcome = await send_as_hook(hook_config(tmp_path, rec.url("/in"), "tls: {ca_file: pki/ca.pem}"))
        assert outcome.ok, outcome.error


async def test_mutual_tls_fails_without_a_client_certificate(tmp_path: Path) -> None:
    # A receiver that requires a client certificate: a hook that trusts it but has none gets no answer.
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki, require_client_cert=True) as rec:
        outcome = await send_as_hook(hook_config(tmp_path, rec.url("/in"), f"tls: {{ca_file: {pki.ca_file}}}"))
        assert not outcome.ok and outcome.status is None and outcome.retryable
        assert rec.requests == []
        # The receiver only closes the connection: the reason says what that may mean, and shows no
        # internal object (aiohttp's own text names its SSL context).
        assert "if the receiver requires a client certificate (mutual TLS), give it in tls.client_cert" in outcome.error
        assert "SSLContext" not in outcome.error


async def test_mutual_tls_succeeds_with_client_cert_and_client_key(tmp_path: Path) -> None:
    # client_cert and client_key: the receiver sees the client certificate the CA issued.
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki, require_client_cert=True) as rec:
        tls = f"tls: {{ca_file: {pki.ca_file}, client_cert: {pki.client_cert}, client_key: {pki.client_key}}}"
        outcome = await send_as_hook(hook_config(tmp_path, rec.url("/in"), tls))
        assert outcome.ok, outcome.error
        assert [subject_cn(s) for s in rec.client_subjects] == ["hookd-client.example"]


async def test_mutual_tls_with_the_key_in_the_certificate_file(tmp_path: Path) -> None:
    # client_cert alone, the file holding both the key and the certificate.
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki, require_client_cert=True) as rec:
        tls = f"tls: {{ca_file: {pki.ca_file}, client_cert: {pki.client_combined}}}"
        outcome = await send_as_hook(hook_config(tmp_path, rec.url("/in"), tls))
        assert outcome.ok, outcome.error
        assert [subject_cn(s) for s in rec.client_subjects] == ["hookd-client.example"]


async def test_verify_false_accepts_an_untrusted_certificate(tmp_path: Path) -> None:
    # verify: false sends to a receiver whose certificate nothing vouches for.
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki) as rec:
        outcome = await send_as_hook(hook_config(tmp_path, rec.url("/in"), "tls: {verify: false}"))
        assert outcome.ok, outcome.error
        assert len(rec.requests) == 1


async def test_the_client_certificate_goes_only_to_the_hooks_own_host(tmp_path: Path) -> None:
    # A redirect from the hook's host (127.0.0.1) to another host (localhost, same CA): the request
    # follows with the same trust, but the client certificate is presented only to the hook's host.
    pki = make_pki(tmp_path / "pki")
    async with (
        https_receiver(pki, optional_client_cert=True) as own,
        https_receiver(pki, optional_client_cert=True) as other,
    ):
        elsewhere = f"https://localhost:{other.server.port}/elsewhere"  # type: ignore[union-attr]
        own.on("/in", Reply(status=307, headers={"Location": elsewhere}))
        # Another host: the destination guard checks it, so loopback must be allowed.
        tls = (
            f"tls: {{ca_file: {pki.ca_file}, client_cert: {pki.client_combined}}}\nfollow_redirects: true\n"
            "allow_destinations: [127.0.0.0/8]"
        )
        outcome = await send_as_hook(hook_config(tmp_path, own.url("/in"), tls))
        assert outcome.ok, outcome.error
        assert [h.url for h in outcome.hops] == [own.url("/in"), elsewhere]
        assert [subject_cn(s) for s in own.client_subjects] == ["hookd-client.example"]
        assert [r.path for r in other.requests] == ["/elsewhere"]
        assert other.client_subjects == [None]


async def test_tls_files_that_no_longer_load_fail_each_attempt_with_the_reason(tmp_path: Path) -> None:
    # The files were valid when the config was loaded and are gone when the sender starts: each
    # attempt fails, retryable (a fixed file and a restart bring the deliveries through), saying which
    # hook's files and why; nothing is sent without the client certificate.
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki, require_client_cert=True) as rec:
        tls = f"tls: {{ca_file: {pki.ca_file}, client_cert: {pki.client_cert}, client_key: {pki.client_key}}}"
        config = hook_config(tmp_path, rec.url("/in"), tls)
        settings = load_config(config)
        pki.client_key.unlink()
        sender = HttpSender(endpoints=Router(settings.hooks).endpoints)
        try:
            request = OutboundRequest(method="POST", url=rec.url("/in"), headers={}, body=b"{}", timeout_s=10.0,
                                      endpoint="h")  # fmt: skip
            outcome = await sender.send(request)
        finally:
            await sender.close()
        assert not outcome.ok and outcome.retryable
        assert outcome.error is not None and outcome.error.startswith("cannot use the TLS files of hook 'h': ")
        assert str(pki.client_key) in outcome.error
        assert rec.requests == []


async def test_a_certificate_for_another_name_is_told_as_such(tmp_path: Path) -> None:
    # The CA is trusted but the certificate names another host: the reason says so, rather than
    # suggesting a CA bundle.
    pki = make_pki(tmp_path / "pki")
    pki.server = pki.ca.issue_cert("other.example")
    async with https_receiver(pki) as rec:
        outcome = await send_as_hook(hook_config(tmp_path, rec.url("/in"), f"tls: {{ca_file: {pki.ca_file}}}"))
        assert not outcome.ok and outcome.error is not None
        assert "is not for that host" in outcome.error and "tls.ca_file" not in outcome.error
        assert rec.requests == []


async def test_hookd_test_send_uses_the_hooks_tls(tmp_path: Path) -> None:
    # `hookd test --send` sends from the CLI's own process with the same endpoint profile: the
    # private CA and the client certificate work there too.
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki, require_client_cert=True) as rec:
        tls = f"tls: {{ca_file: {pki.ca_file}, client_cert: {pki.client_combined}}}"
        config = hook_config(tmp_path, rec.url("/in"), tls)
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["test", "-c", str(config), "--type", "order.created", "--send", "--json"]
        )
        assert result.exit_code == 0, result.output
        assert [subject_cn(s) for s in rec.client_subjects] == ["hookd-client.example"]
