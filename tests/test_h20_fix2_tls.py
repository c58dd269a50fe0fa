"""A receiver's certificate refused by a hook that has its own tls.ca_file: the reason says the
certificate does not chain to that bundle, instead of suggesting to give one. Real HTTPS receivers
on loopback, CAs made in the test (trustme)."""

from __future__ import annotations

from pathlib import Path

from tests.h20_tls_servers import https_receiver, make_pki
from tests.test_h20_tls_https import hook_config, send_as_hook

PRIVATE_CA_HINT = "if the receiver uses a private CA, give its bundle in tls.ca_file"


async def test_a_certificate_outside_the_given_ca_file_is_told_against_that_file(tmp_path: Path) -> None:
    """The hook trusts ca_file of one CA; the receiver's certificate is from another. The attempt
    fails, retried, with a reason naming the ca_file and saying the certificate does not chain to it,
    and without the hint to give a ca_file (one is given)."""
    pki = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other")
    async with https_receiver(pki) as rec:
        outcome = await send_as_hook(hook_config(tmp_path, rec.url("/in"), f"tls: {{ca_file: {other.ca_file}}}"))
        host_port = rec.url("/").split("//", 1)[1].rstrip("/")
    assert not outcome.ok and outcome.retryable and outcome.error is not None
    assert outcome.error == (
        f"TLS error: the certificate of {host_port} was refused (unable to get local issuer certificate): it does "
        f"not chain to a CA in tls.ca_file {str(other.ca_file)!r}, the only CAs this hook trusts; give the bundle "
        "of the CA that issued the receiver's certificate (ask the receiver which)"
    )
    assert rec.requests == []


async def test_without_a_ca_file_the_private_ca_hint_stays(tmp_path: Path) -> None:
    """A hook with a tls block but no ca_file (a client certificate only) trusts the system's CAs: a
    private CA's certificate is refused with the hint to give its bundle in tls.ca_file."""
    pki = make_pki(tmp_path / "pki")
    async with https_receiver(pki) as rec:
        outcome = await send_as_hook(
            hook_config(tmp_path, rec.url("/in"), f"tls: {{client_cert: {pki.client_combined}}}")
        )
    assert outcome.error is not None and outcome.error.endswith(PRIVATE_CA_HINT)
    assert "does not chain" not in outcome.error
