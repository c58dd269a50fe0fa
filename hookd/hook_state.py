"""Pausing and resuming hooks, and listing their state: what `hookd hooks` does, through the Store.

A pause is run-time state in the database (the hook_state table, by hook name), not config: it
survives restarts and config edits, and works with or without a running daemon. A running daemon reads
the table at its poll interval (dispatcher.POLL_INTERVAL_S), or at once when told through its admin
listener (POST /hooks/refresh), so no other IPC is needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from hookd.history import UsageError
from hookd.redact import Redactor
from hookd.store.base import BreakerRecord, HookPause, Store
from hookd.suggest import closest
from hookd.urls import UrlTemplateError, compile_url, lower_outside_references

# The end of the error the dispatcher records for an answer that paused its hook or destination (410
# Gone, or the header `webhook-delivery: disable`): history reads it to say the delivery waits for a
# resume, not for a retry time.
WAITS_FOR_RESUME = "waits for `hookd hooks resume`"

# The reason an operator's pause gets when `--reason` is not given.
OPERATOR_REASON = "paused with hookd hooks pause"


class UnknownHookName(UsageError):
    """A hook name that no configured hook, stored delivery or stored state has: exit 2."""

    def __init__(self, name: str, known: Sequence[str], *, configured: bool) -> None:
        where = "in the config or the database" if configured else "in the database (no config was read)"
        match = closest(name, known)
        if match is not None:
            hint = f"did you mean {match!r}?"
        elif known:
            hint = f"the hooks known are: {', '.join(known)}"
        else:
            hint = "no hook is known yet"
        super().__init__(f"no hook named {name!r} {where}; {hint} (hookd hooks list shows them)")


@dataclass(frozen=True, slots=True, kw_only=True)
class HookListing:
    """One line of `hookd hooks list`."""

    name: str
    configured: bool
    pause: HookPause | None
    breaker: BreakerRecord | None
    backlog: int
    last_success_at: float | None
    last_failure_at: float | None
    # A hook with a templated url host: its paused destinations (by the receiver or disable_after), by host.
    destinations: Mapping[str, HookPause] = field(default_factory=lambda: MappingProxyType({}))
    # Its destinations with parked deliveries (a closed gate), by host: how many wait there. Those not in
    # `destinations` are held by a breaker, a Retry-After hold or a rate limit, which only the daemon knows.
    parked: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    held: bool = False  # a destination's line: its gate is closed, not by a pause

    @property
    def state(self) -> str:
        """active, paused, held (a destination's gate), or the breaker's open or half_open (a pause comes
        first: nothing is sent)."""
        if self.pause is not None:
            return "paused"
        if self.held:
            return "held"
        if self.breaker is not None:
            return self.breaker.state
        return "active"


async def list_hooks(store: Store, configured: Sequence[str] | None) -> list[HookListing]:
    """Every configured hook in config order, then the hooks the database knows (stored deliveries
    or state) that the config does not have, by name. Without a config, the database's hooks."""
    states = await store.hook_states()
    activity = await store.hook_activity()
    paused_destinations = await store.destination_pauses()
    names = list(configured or ())
    names += sorted(n for n in {*states, *activity, *paused_destinations} if n not in names)
    listings = []
    for name in names:
        state = states.get(name)
        act = activity.get(name)
        listings.append(
            HookListing(
                name=name,
                configured=configured is None or name in configured,
                pause=state.pause if state is not None else None,
                breaker=state.breaker if state is not None else None,
                backlog=act.backlog if act is not None else 0,
                last_success_at=state.last_success_at if state is not None else None,
                last_failure_at=state.last_failure_at if state is not None else None,
                destinations=MappingProxyType(dict(sorted(paused_destinations.get(name, {}).items()))),
            )
        )
    return listings


def configured_listings(configured: Sequence[str]) -> list[HookListing]:
    """The configured hooks as `hookd hooks list` shows them before the daemon's first start (no database
    yet): each active, with no backlog and no outcome."""
    return [
        HookListing(
            name=name,
            configured=True,
            pause=None,
            breaker=None,
            backlog=0,
            last_success_at=None,
            last_failure_at=None,
            destinations=MappingProxyType({}),
        )
        for name in configured
    ]


async def check_name(store: Store, name: str, configured: Sequence[str] | None) -> None:
    """Raise UnknownHookName (with a did-you-mean) unless `name` is configured or the database knows it."""
    if configured is not None and name in configured:
        return
    states = await store.hook_states()
    if name in states or name in await store.destination_pauses() or await store.hooks_with_deliveries([name]):
        return
    known = sorted({*(configured or ()), *states, *await store.hook_names()})
    raise UnknownHookName(name, known, configured=configured is not None)


async def pause(store: Store, name: str, *, reason: str | None, now: float) -> tuple[HookPause, bool]:
    """Pause `name` by an operator. Returns the pause in force and whether this call made it (False:
    it was paused already, and its pause, maybe by the receiver, stands)."""
    # Stored unannounced: the daemon raises hookd.hook.paused when it reads it (now or at its start).
    wanted = HookPause(by="operator", reason=reason or OPERATOR_REASON, at=now, announced=False)
    before = await store.pause_hook(name, wanted)
    return (before, False) if before is not None else (wanted, True)


async def resume(store: Store, name: str, *, now: float) -> HookPause | None:
    """Lift `name`'s pause, whoever made it. Returns the pause lifted, or None when it was not paused."""
    return await store.resume_hook(name, now)


async def pause_destination(
    store: Store, name: str, host: str, *, reason: str | None, now: float
) -> tuple[HookPause, bool]:
    """Pause `name`'s destination `host` by an operator (a hook with a templated url host): its
    deliveries to that host wait, the hook's other destinations go on. Returns the pause in force and
    whether this call made it (False: it was paused already, and that pause stands)."""
    # Stored unannounced, as a hook's pause: the daemon raises hookd.hook.paused when it reads it.
    wanted = HookPause(by="operator", reason=reason or OPERATOR_REASON, at=now, announced=False)
    before = await store.pause_destination(name, host, wanted)
    return (before, False) if before is not None else (wanted, True)


async def resume_destinations(store: Store, name: str, destination: str | None, *, now: float) -> dict[str, HookPause]:
    """Lift the pause of `name`'s `destination` (None: of all its paused destinations; a hook with a
    templated url host pauses one destination when its receiver asks). Returns the pauses lifted, by host."""
    return await store.resume_destinations(name, destination, now)


@dataclass(frozen=True, slots=True, kw_only=True)
class DestinationKey:
    """How a hook with a templated url host keys its destinations (urls.UrlTemplate.destination): the
    host, and `:port` whenever its url writes a port (templated or not)."""

    hook: str
    scheme: str  # `http` or `https`, as the url writes it
    port: str | None  # None: the url writes no port (the scheme's default); "": the port is templated
    hosts: re.Pattern[str] | None  # its allow_hosts; None when unknown
    allow_hosts: tuple[str, ...] = ()


_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_PORT = 65535


def destination_key(name: str, url: str, allow_hosts: Sequence[str]) -> DestinationKey | None:
    """The destination key of configured hook `name`; None when its url does not compile."""
    try:
        template = compile_url(url, allow_hosts)
    except UrlTemplateError:
        return None
    scheme = template.head.partition("://")[0].lower()
    if template.port is None:
        port = None
    elif all(isinstance(p, str) for p in template.port):
        port = str(int("".join(p for p in template.port if isinstance(p, str))))
    else:
        port = ""
    return DestinationKey(hook=name, scheme=scheme, port=port, hosts=template.hosts, allow_hosts=template.allow_hosts)


def destination_host(text: str, key: DestinationKey | None = None) -> tuple[str, bool]:
    """`text` as the daemon keys a destination (urls.UrlTemplate.destination): the host in lower case,
    without a trailing dot (it names the same host), and the port, if the hook's url writes one, without
    leading zeros. A URL gives its host[:port]; the bool says one was given.

    With the hook's `key` (a config was read), a port its url does not template is its url's own (the
    scheme's default when it writes none): given or not, the same destination; another port, or a URL
    of the other scheme, is a UsageError saying where the hook sends."""
    given_url = "://" in text
    scheme = ""
    if given_url:
        try:
            parts = urlsplit(text.strip())
            scheme, text = parts.scheme.lower(), parts.netloc.rpartition("@")[2]
        except ValueError:
            return text.strip().lower(), True
    host, colon, port = text.strip().partition(":")
    host = lower_outside_references(host).removesuffix(".")
    if colon and not (port.isascii() and port.isdigit() and 0 < int(port) <= _MAX_PORT):
        # A destination's port is a number the daemon sent to: `host:abc`, `host:-1` or `host:80:80`
        # would be stored as a pause no delivery can ever match.
        raise UsageError(
            f"{text.strip()!r} is not a destination: its port {port!r} is not a port number (1 to {_MAX_PORT}); "
            "give host or host:port as hookd hooks list or hookd history shows it"
        )
    number = int(port) if colon else None
    if key is None:
        return (host if number is None else f"{host}:{number}"), given_url
    if given_url and scheme != key.scheme:
        raise UsageError(
            f"{text!r} is given as an {scheme} URL, but hook {key.hook!r} sends over {key.scheme}: give the "
            f"host as hookd hooks list shows it (or a {key.scheme}:// URL to it)"
        )
    if key.port == "":  # templated: each port is a destination of its own
        if number is None and given_url:
            number = _DEFAULT_PORTS.get(scheme)
        return (host if number is None else f"{host}:{number}"), given_url
    sends_to = int(key.port) if key.port is not None else _DEFAULT_PORTS.get(key.scheme)
    if number is not None and number != sends_to:
        shown = host if key.port is None else f"{host}:{key.port}"
        form = "give the host alone" if key.port is None else "give it as hookd hooks list shows it"
        raise UsageError(
            f"hook {key.hook!r} sends to port {sends_to} of every destination (its url does not template the "
            f"port), so {host}:{number} is none of its destinations; {form}: {shown}"
        )
    return (host if key.port is None else f"{host}:{key.port}"), given_url


def check_port_given(host: str, key: DestinationKey) -> None:
    """Raise a UsageError when `host` has no port but the hook templates its url's port: each of its
    destinations is keyed host:port, so a bare host would be stored as a pause no delivery can match,
    and nothing would be held. (Resuming one is checked against the paused destinations instead.)"""
    if key.port != "" or ":" in host:
        return
    default = _DEFAULT_PORTS.get(key.scheme)
    raise UsageError(
        f"hook {key.hook!r} templates its url's port, so each of its destinations is host:port, and {host!r} "
        f"alone is none of them; give it as hookd hooks list or hookd history shows it, e.g. {host}:{default} "
        f"for the {key.scheme} default port"
    )


def hidden_destination(host: str, secrets: Redactor) -> str:
    """`host` as the daemon keys it when a config secret is in it: shown as its reference (`${ZONE}`), as
    urls.UrlTemplate.destination does, so that the host an operator types and the one `hooks list`
    shows name the same destination."""
    hidden = secrets.text(host)
    return host if hidden == host else lower_outside_references(hidden)


def check_allowed(host: str, key: DestinationKey, secrets: Sequence[tuple[str, str]] = ()) -> None:
    """Raise a UsageError when `host` is not one the hook may send to (its allow_hosts). A reference to
    one of the config's `secrets` (value, `${VAR}`) in it, as hooks list shows such a host, stands for
    its value; one to anything else is an error. The message shows secrets as their references."""
    for value, ref in secrets:
        host = host.replace(ref, value)
    hide = Redactor(secrets).text
    # (A config read with its references unset keeps them in allow_hosts: the host may match them as text.)
    if key.hosts is None or key.hosts.fullmatch(host.partition(":")[0]):
        return
    if "${" in host:
        raise UsageError(
            f"{hide(host)!r} names a reference that is no secret of this config, or whose value is not set "
            "here; give the host as hookd hooks list or hookd history shows it"
        )
    raise UsageError(
        f"hook {key.hook!r} never sends to {hide(host)!r}: it matches none of its allow_hosts "
        f"({', '.join(map(hide, key.allow_hosts))}); give a host as hookd hooks list or hookd history shows it"
    )


async def check_destination(store: Store, name: str, host: str, *, templated: bool | None) -> None:
    """Raise a UsageError (exit 2) unless `host` is a paused destination of `name`: a hook whose url host
    is not templated (`templated` False; None: no config read) has none, and a host that is not paused is
    most often a typo, which a silent "nothing changed" would hide."""
    if templated is False:
        raise UsageError(
            f"hook {name!r} has no destinations of its own: its url host is not templated, so it is paused and "
            f"resumed as a whole; drop --destination (hookd hooks resume {name})"
        )
    paused = sorted((await store.destination_pauses()).get(name, {}))
    if host in paused:
        return
    if not paused:
        raise UsageError(f"hook {name!r} has no paused destination, so {host!r} is not paused; nothing to resume")
    match = closest(host, paused)
    hint = f"did you mean {match!r}? " if match is not None else ""
    raise UsageError(
        f"hook {name!r} has no paused destination {host!r}; {hint}its paused destinations are: "
        f"{', '.join(paused)} (hookd hooks list shows them)"
    )


def paused_by_text(pause: HookPause) -> str:
    """`by operator`, `by the receiver`, `by breaker.disable_after`."""
    return {"operator": "by operator", "receiver": "by the receiver", "disable_after": "by breaker.disable_after"}[
        pause.by
    ]
