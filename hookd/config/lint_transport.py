"""Checks of how hooks connect: `require_https`, the files of `tls:` (they exist, are regular files,
load, and a client certificate matches its key) and proxy URLs.

Messages name files and fields, never a key's contents or a proxy's password.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from hookd.config.located import LocatedDocument, PathKey
from hookd.errors import Severity
from hookd.redact import proxy_userinfo, redact_proxy_url
from hookd.senders.tls import TlsFileError, check_ca_bundle, check_client_pair
from hookd.urls import is_templated

_TLS_FILES = ("ca_file", "client_cert", "client_key")
_EXAMPLE_PROXY = "http://proxy.corp:3128"


class Linter(Protocol):
    doc: LocatedDocument

    def add(
        self, path: PathKey, message: str, severity: Severity = "error", *, offset: int = -1, key: bool = False
    ) -> None: ...


def lint_transport(linter: Linter, data: dict[str, object], base_dir: Path, *, check_environment: bool) -> None:
    delivery = data.get("delivery")
    delivery = delivery if isinstance(delivery, dict) else {}
    if isinstance(delivery.get("proxy"), str):
        _proxy(linter, delivery["proxy"], ("delivery", "proxy"))
        if delivery.get("trust_env") is True:
            linter.add(
                ("delivery", "trust_env"),
                "trust_env has no effect: delivery.proxy is set, and it wins over the environment's proxies; "
                "remove one of the two",
                "warning",
            )
    hooks = data.get("hooks")
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        if not isinstance(hook, dict):
            continue
        path: PathKey = ("hooks", i)
        url = hook.get("url")
        scheme = _scheme(url) if isinstance(url, str) else ""
        where = https_required_by(hook, delivery)
        if scheme == "http" and where is not None:
            linter.add(
                (*path, "url"),
                f"hook {hook.get('name')!r} sends over plain http://, but {where} is true; use the receiver's "
                "https:// URL, or set require_https: false on this hook if it cannot take TLS",
            )
        if isinstance(hook.get("proxy"), str):
            _proxy(linter, hook["proxy"], (*path, "proxy"))
        _guard_behind_proxy(linter, hook, path, delivery)
        tls = hook.get("tls")
        if isinstance(tls, dict):
            _tls(linter, tls, (*path, "tls"), base_dir, check_environment=check_environment)
            if scheme == "http" and hook.get("follow_redirects") is not True:
                linter.add(
                    (*path, "tls"),
                    "tls is not used: the hook's url is http://, so no TLS connection is made; use the https:// URL",
                    "warning",
                )


def https_required_by(hook: dict[str, object], delivery: object) -> str | None:
    """The setting that requires https:// of `hook` (its own require_https, or delivery's when the hook
    has none), or None when neither does."""
    own = hook.get("require_https")
    if own is True:
        return "its own require_https"
    if own is None and isinstance(delivery, dict) and delivery.get("require_https") is True:
        return "delivery.require_https"
    return None


def _guard_behind_proxy(linter: Linter, hook: dict[str, object], path: PathKey, delivery: dict[str, object]) -> None:
    """Behind a proxy, the destination guard sees the proxy's address, not the destination's: say so
    for a hook whose destinations the guard would otherwise check (a templated URL, redirects)."""
    proxy = hook.get("proxy", delivery.get("proxy"))
    if not isinstance(proxy, str) and not (proxy is None and delivery.get("trust_env") is True):
        return
    url = hook.get("url")
    templated = isinstance(url, str) and is_templated(url)
    if not templated and hook.get("follow_redirects") is not True:
        return
    what = "its url is templated" if templated else "it follows redirects"
    linter.add(
        (*path, "url") if templated else (*path, "follow_redirects"),
        f"{what} and its requests go through a proxy, which resolves the destination out of hookd's sight: the "
        "destination guard checks only destinations written as IP addresses there; make the proxy refuse "
        "internal addresses (loopback, private networks, 169.254.169.254)",
        "warning",
    )


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def _tls(linter: Linter, tls: dict[str, object], path: PathKey, base_dir: Path, *, check_environment: bool) -> None:
    if tls.get("verify") is False:
        linter.add(
            (*path, "verify"),
            "certificate verification is off: anyone on the network path to the receiver can read and change this "
            "hook's requests, and the credentials they carry; give the receiver's CA in tls.ca_file instead",
            "warning",
        )
        if "ca_file" in tls:
            linter.add((*path, "ca_file"), "ca_file is not used while verify is false", "warning")
    if "client_key" in tls and "client_cert" not in tls:
        linter.add((*path, "client_key"), "client_key needs client_cert, the certificate it belongs to; add it")
    files: dict[str, Path] = {}
    for name in _TLS_FILES:
        raw = tls.get(name)
        if not isinstance(raw, str) or not raw or (*path, name) in linter.doc.unresolved:
            continue
        target = Path(raw).expanduser()
        target = target if target.is_absolute() else base_dir / target
        if not check_environment and not _exists(target):
            continue  # --no-environment: a file of the deployment's, like a secret
        files[name] = target
    if "ca_file" in files:
        _check(linter, (*path, "ca_file"), lambda: [("ca_file", w) for w in check_ca_bundle(files["ca_file"])])
    if "client_cert" in files and ("client_key" in files or "client_key" not in tls):
        cert, key = files["client_cert"], files.get("client_key")
        _check(linter, (*path, "client_cert"), lambda: [("client_cert", w) for w in check_client_pair(cert, key)])


def _check(linter: Linter, path: PathKey, check: Callable[[], list[tuple[str, str]]]) -> None:
    """Run a file check, reporting what it finds at `path` (or at the field it names)."""
    try:
        warnings = check()
    except PermissionError as e:
        linter.add(
            path,
            f"cannot read {e.filename or e.args[0]!r} as this user; make sure the user hookd runs as can read it",
            "warning",
        )
    except TlsFileError as e:
        field = e.field or str(path[-1])
        linter.add((*path[:-1], field), f"{e}; {_HINTS[field]}" if e.unfound else str(e))
    else:
        for at, warning in warnings:
            linter.add((*path[:-1], at), warning, "warning")


_HINTS = {
    "ca_file": "give the CA bundle (PEM) that signed the receiver's certificate (relative paths start at the "
    "config file's directory)",
    "client_cert": "give the client certificate (PEM) the receiver expects (relative paths start at the config "
    "file's directory)",
    "client_key": "give the private key (PEM) of client_cert (relative paths start at the config file's directory)",
}


def _exists(target: Path) -> bool:
    try:
        return target.exists()
    except OSError:
        return True  # there is something there to check


def _proxy(linter: Linter, url: str, path: PathKey) -> None:
    written = linter.doc.interpolated.get(path)
    # The userinfo runs to the last @ (as secret_fields reads the password): a password holding / ? or #
    # unescaped is hidden whole, where a URL parser would show part of it as the host and path.
    shown = redact_proxy_url(written if written is not None else url)
    if written is not None and _written_host(written) not in (None, _host(url)):
        linter.add(
            path,
            f"a value substituted into the proxy URL {shown} holds a character that ends its user or password "
            "(@ : / ? #); percent-encode it in the variable (@ as %40, : as %3A, / as %2F)",
        )
        return
    userinfo = proxy_userinfo(url)
    if userinfo is not None and any(c in userinfo[1] for c in "/?#"):
        linter.add(
            path,
            f"the user or password of the proxy URL {shown} holds a '/', '?' or '#' as it is, where the URL's "
            "host part would begin; percent-encode them (/ as %2F, ? as %3F, # as %23)",
        )
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        linter.add(path, f"the proxy URL {shown} is not valid; write it like {_EXAMPLE_PROXY}")
        return
    if parts.scheme.lower() != "http":
        linter.add(
            path,
            f"the proxy URL {shown} is not http://; hookd talks to proxies over plain HTTP (https:// receivers are "
            f"reached through them with CONNECT, so TLS still runs end to end); write it like {_EXAMPLE_PROXY}",
        )
    elif not parts.hostname:
        linter.add(path, f"the proxy URL {shown} has no host; write it like {_EXAMPLE_PROXY}")
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        linter.add(path, f"the proxy URL {shown} has a path; a proxy is named by host and port, like {_EXAMPLE_PROXY}")


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _written_host(written: str) -> str | None:
    """The host of a URL as written, if no ${...} is in it (nor before it, where it could hide one)."""
    try:
        parts = urlsplit(written)
    except ValueError:
        return None
    host_part = parts.netloc.rpartition("@")[2]
    if "${" in host_part or "${" in parts.scheme or not parts.netloc:
        return None
    return parts.hostname
