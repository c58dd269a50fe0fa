"""Pausing and resuming hooks, and listing their state: what `hookd hooks` does, through the Store.

A pause is run-time state in the database (the hook_state table, by hook name), not config: it
survives restarts and config edits, and works with or without a running daemon. A running daemon reads
the table at its poll interval (dispatcher.POLL_INTERVAL_S), or at once when told through its admin
listener (POST /hooks/refresh), so no other IPC is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from hookd.history import UsageError
from hookd.store.base import BreakerRecord, HookPause, Store
from hookd.suggest import closest

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

    @property
    def state(self) -> str:
        """active, paused, or the breaker's open or half_open (a pause comes first: nothing is sent)."""
        if self.pause is not None:
            return "paused"
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


async def resume_destinations(store: Store, name: str, destination: str | None, *, now: float) -> dict[str, HookPause]:
    """Lift the pause of `name`'s `destination` (None: of all its paused destinations; a hook with a
    templated url host pauses one destination when its receiver asks). Returns the pauses lifted, by host."""
    return await store.resume_destinations(name, destination, now)


def destination_host(text: str) -> tuple[str, bool]:
    """`text` as the daemon keys a destination (urls.UrlTemplate.destination): the host in lower case and
    the port, if any, without leading zeros. A URL gives its host[:port]; the bool says one was given."""
    given_url = "://" in text
    if given_url:
        try:
            text = urlsplit(text.strip()).netloc.rpartition("@")[2]
        except ValueError:
            return text.strip().lower(), True
    host, colon, port = text.strip().partition(":")
    host = host.lower()
    if colon and port.isascii() and port.isdigit():
        return f"{host}:{int(port)}", given_url
    return host + colon + port, given_url


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
