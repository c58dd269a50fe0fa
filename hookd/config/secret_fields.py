"""Which values in a config are secrets, wherever they come from: one table for the loader (each
joins the redaction set, so it is hidden by value even when written literally) and for `hookd
validate` (a secret written literally, not as `${VAR}` or `${file:...}`, is a warning)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from urllib.parse import unquote, urlsplit

from hookd.config.located import PathKey
from hookd.redact import proxy_userinfo

# Per hook block: the keys whose values are secrets (a string, or a list of strings).
HOOK_SECRET_KEYS: dict[str, frozenset[str]] = {
    "signing": frozenset({"secret", "secrets", "private_key"}),
    "auth": frozenset({"token", "password", "value", "client_secret", "secret", "private_key"}),
}
# An http source's `verify:` keys whose values are secrets (public_key is not: it only checks).
VERIFY_SECRET_KEYS = frozenset({"secret", "secrets", "verify_token"})
# Request headers whose value is a credential.
_SECRET_HEADER = re.compile(r"^(authorization|proxy-authorization|cookie|.*-(key|token|secret))$", re.I)


def is_secret_header(name: str) -> bool:
    return _SECRET_HEADER.match(name) is not None


def secret_values(data: object) -> Iterator[tuple[PathKey, str]]:
    """Every (path, value) in a loaded config document that holds a secret, in file order: the
    secrets of http sources' verify blocks, signing and auth secrets, credential headers (not
    templates: a template's value is the event's), the admin token."""
    if not isinstance(data, dict):
        return
    sources = data.get("sources")
    for i, source in enumerate(sources if isinstance(sources, list) else []):
        verify = source.get("verify") if isinstance(source, dict) else None
        if isinstance(verify, dict):
            yield from _block_secrets(verify, VERIFY_SECRET_KEYS, ("sources", i, "verify"))
    hooks = data.get("hooks")
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        if not isinstance(hook, dict):
            continue
        for block, keys in HOOK_SECRET_KEYS.items():
            raw = hook.get(block)
            if isinstance(raw, dict):
                yield from _block_secrets(raw, keys, ("hooks", i, block))
        headers = hook.get("headers")
        if isinstance(headers, dict):
            for name, value in headers.items():
                if isinstance(name, str) and isinstance(value, str) and is_secret_header(name) and "{{" not in value:
                    yield ("hooks", i, "headers", name), value
    admin = data.get("admin")
    if isinstance(admin, dict) and isinstance(admin.get("token"), str):
        yield ("admin", "token"), admin["token"]


def _block_secrets(block: dict[object, object], keys: frozenset[str], at: PathKey) -> Iterator[tuple[PathKey, str]]:
    """(path, value) for each of `keys` in `block` (a string, or each string of a list), by key name."""
    for key in sorted(keys & {k for k in block if isinstance(k, str)}):
        value = block[key]
        if isinstance(value, str):
            yield (*at, key), value
        elif isinstance(value, list):
            for j, item in enumerate(value):
                if isinstance(item, str):
                    yield (*at, key, j), item


def proxy_passwords(data: object) -> Iterator[tuple[PathKey, str]]:
    """(path, password) for each proxy URL of the config with a password in its userinfo
    (delivery.proxy, hooks[i].proxy): the password as the URL holds it, and percent-decoded as it is
    sent, when that differs."""
    if not isinstance(data, dict):
        return
    delivery = data.get("delivery")
    urls: list[tuple[PathKey, object]] = []
    if isinstance(delivery, dict):
        urls.append((("delivery", "proxy"), delivery.get("proxy")))
    hooks = data.get("hooks")
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        if isinstance(hook, dict):
            urls.append((("hooks", i, "proxy"), hook.get("proxy")))
    for path, url in urls:
        if isinstance(url, str):
            for password in url_passwords(url):
                yield path, password


def hook_url_passwords(data: object) -> Iterator[tuple[PathKey, str]]:
    """(path, password) for each hook url with a password in its userinfo (sent as Basic auth)."""
    hooks = data.get("hooks") if isinstance(data, dict) else None
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        url = hook.get("url") if isinstance(hook, dict) else None
        if isinstance(url, str):
            # Both readings of the userinfo: up to the last @ (url_passwords, as for proxies) and up
            # to the host (a hook url may hold an @ later, in its path or query): hiding more is harmless.
            for password in dict.fromkeys([*url_passwords(url), *_first_userinfo_password(url)]):
                yield ("hooks", i, "url"), password


# Hosts whose webhook URLs are their own credential, by the service a sentence names. Teams Workflows
# URLs hold it in the `sig` query parameter, the others in the path.
_CHAT_WEBHOOK_HOSTS = (
    ("hooks.slack.com", "Slack"),
    ("discord.com", "Discord"),
    ("discordapp.com", "Discord"),
    (".discord.com", "Discord"),
    (".webhook.office.com", "Teams"),
    (".logic.azure.com", "Teams Workflows"),
    (".api.powerplatform.com", "Teams Workflows"),
    ("maker.ifttt.com", "IFTTT"),
    ("hooks.zapier.com", "Zapier"),
)


def chat_webhook_service(url: str) -> str | None:
    """The chat or automation service whose webhook `url` is (its URL is its credential), or None."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return None
    for suffix, service in _CHAT_WEBHOOK_HOSTS:
        if host == suffix or (suffix.startswith(".") and host.endswith(suffix)):
            return service
    return None


def chat_url_paths(data: object) -> Iterator[tuple[PathKey, str]]:
    """(path, url path and query) for each hook whose url is written out and is a chat webhook's (the
    hook has a preset, or its host is a chat service's): such a URL holds its token in the path
    (Slack's /services/T../B../X.., Discord's /api/webhooks/ID/TOKEN) or the query (a Teams
    Workflows sig=), so they are hidden as a secret is, and the URL shows as its origin and ***."""
    hooks = data.get("hooks") if isinstance(data, dict) else None
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        url = hook.get("url") if isinstance(hook, dict) else None
        if not isinstance(url, str) or "{{" in url:
            continue
        if not isinstance(hook.get("preset"), str) and chat_webhook_service(url) is None:
            continue
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        hidden = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
        if hidden:
            yield ("hooks", i, "url"), hidden
            if unquote(hidden) != hidden:
                yield ("hooks", i, "url"), unquote(hidden)


def _first_userinfo_password(url: str) -> list[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [] if not password else list(dict.fromkeys([password, unquote(password)]))


def url_passwords(url: str) -> list[str]:
    """The password of a proxy URL's userinfo as written and, if different, percent-decoded; [] if
    none. The userinfo runs to the last `@` (hookd.redact.proxy_userinfo), so a password holding `/`,
    `?` or `#` unescaped is found whole: a URL parser would take part of it for the host."""
    password = _password(url)
    if not password:
        return []
    decoded = unquote(password)
    return [password] if decoded == password else [password, decoded]


def _password(url: str) -> str:
    parts = proxy_userinfo(url)
    return parts[1].partition(":")[2] if parts is not None else ""


def written_password_is_literal(written: str) -> bool:
    """Whether the password in a proxy URL as written in the file (before ${...} is substituted) is
    literal text rather than a reference."""
    password = _password(written)
    return bool(password) and "${" not in password


def environment_proxy_passwords(env: Mapping[str, str]) -> list[str]:
    """The passwords of the HTTP_PROXY and HTTPS_PROXY URLs (any case) in `env`, which delivery.trust_env
    makes hookd use: secrets like any other."""
    passwords = []
    for name, value in env.items():
        if name.lower() in ("http_proxy", "https_proxy") and "@" in value:
            passwords += url_passwords(value if "://" in value else f"http://{value}")
    return passwords
