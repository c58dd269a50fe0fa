"""Proving who sent an inbound request (an http source's `verify:`), pure.

One scheme per `verify.type`, registered in SCHEMES. A Verifier is built once from the config and
checks each request in constant time against every configured secret, newest first. Its verdict
(scheme, which secret matched, when) is stored with the event, so a replay weeks later never checks a
timestamp again. Failures carry a reason fit for a log line and `hookd history rejections`: it never
quotes a secret, a signature or the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hookd.config.model import VerifyConfig
from hookd.inbound.request import InboundRequest


class VerifyFailed(Exception):
    """The request is not proven to come from the configured sender: answered 401. str() is the
    reason, like "X-Hub-Signature-256 is missing" or "the signature matches none of the 2 secrets"."""


@dataclass(frozen=True, slots=True)
class Verdict:
    scheme: str  # the verify type
    secret: int  # which of `secrets` matched (0 = the newest); -1 for the public key
    verified_at: float  # epoch seconds
    timestamp: float | None = None  # the request's signed timestamp, for timestamped schemes

    def as_json(self) -> dict[str, object]:
        """As stored beside the event."""
        out: dict[str, object] = {"scheme": self.scheme, "secret": self.secret, "verified_at": self.verified_at}
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out


class Verifier(Protocol):
    scheme: str
    # What the stored request must not keep (lower-cased header names, query parameter names): a
    # shared secret sent as is (X-Gitlab-Token, an api_key, Basic credentials). Signatures are kept,
    # so a hook can forward them (`forward: {headers: [...]}`).
    credential_headers: frozenset[str]
    credential_query: frozenset[str]
    # Whether the scheme checks a signed timestamp (replay protection without an id).
    timestamped: bool

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        """The verdict, or raises VerifyFailed. Pure and cheap: no I/O."""
        ...
