"""Each hook's auth made live: what HttpSender asks for credentials."""

from __future__ import annotations

from hookd.auth.base import Authenticator
from hookd.auth.fixed import FixedAuth
from hookd.auth.oauth2 import OAuth2Client, TokenCache
from hookd.auth.signed_jwt import JwtSigner
from hookd.clock import Clock
from hookd.config.model import ApiKeyAuth, AuthConfig, JwtAuth, OAuth2Auth


def build_authenticator(config: AuthConfig, tokens: TokenCache, clock: Clock) -> Authenticator:
    if isinstance(config, OAuth2Auth):
        return OAuth2Client(config, tokens)
    if isinstance(config, JwtAuth):
        return JwtSigner(config, clock, tokens.hidden)
    return FixedAuth(config)


def auth_headers(config: AuthConfig | None) -> tuple[str, ...]:
    """The headers an auth adds to each request (shown as *** wherever a request is shown)."""
    if config is None:
        return ()
    if isinstance(config, ApiKeyAuth):
        return (config.header,) if config.header is not None else ()
    return ("Authorization",)
