"""Templated hook URLs: `{{ expr }}` in a hook's `url`, rendered for each delivery (pure).

The template is cut into its parts once, at its written delimiters, so that event data fills a part
and never makes one: the scheme is written out; in the path and the query each rendered value is
percent-encoded as one component (a `/`, `?`, `#`, `@`, `&` or `=` in it is data, so `@10.0.0.5/` or
`../admin` stays inside its segment); the host and port may be templated only when the hook lists the
hosts it may reach (`allow_hosts`), and a rendered host must be a valid host name one of them
matches. Credentials thus go only to hosts the config names. Where the rendered URL then connects is
the destination guard's business (hookd.senders.guard), not this module's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from hookd.templates import PLACEHOLDER, Template, TemplateError, compile_template

ALLOW_HOSTS = "allow_hosts"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_GLOB_LABEL = re.compile(r"[a-z0-9*-]+")
_MAX_HOST_CHARS = 253
_SHOWN_CHARS = 80  # of a rendered value quoted in a reason: event data can be long


class UrlTemplateError(ValueError):
    """A url template that cannot be used; `problems` are sentences, each saying how to fix it."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class UrlRenderError(Exception):
    """The URL cannot be made from this event: a sentence naming the part and the value."""


def is_templated(url: str) -> bool:
    return "{{" in url


@dataclass(frozen=True, slots=True)
class _Hole:
    """One `{{ expr }}` of the template, as written."""

    text: str


@dataclass(frozen=True, slots=True)
class _Slot:
    """One `{{ expr }}`, compiled."""

    template: Template
    text: str

    def value(self, event: Mapping[str, object]) -> str:
        return self.template.render_text(event)  # raises templates.RenderError


_Piece = str | _Hole
_Part = tuple[str | _Slot, ...]


@dataclass(frozen=True, slots=True)
class _Layout:
    """A url template cut at its delimiters; each part a run of literal text and holes."""

    head: str  # `https://`, and `user:password@` when written
    host: tuple[_Piece, ...]  # `[2001:db8::1]` brackets included
    port: tuple[_Piece, ...] | None  # None: no port written
    path: tuple[_Piece, ...]
    query: tuple[_Piece, ...] | None  # None: no `?`
    fragment: str  # `#...` as written, or ""

    @property
    def templated_host(self) -> bool:
        return _has_hole(self.host) or (self.port is not None and _has_hole(self.port))


def _pieces(source: str) -> list[_Piece]:
    pieces: list[_Piece] = []
    pos = 0
    for m in PLACEHOLDER.finditer(source):
        if m.start() > pos:
            pieces.append(source[pos : m.start()])
        pieces.append(_Hole(m.group()))
        pos = m.end()
    if pos < len(source):
        pieces.append(source[pos:])
    return pieces


def _cut(pieces: Sequence[_Piece], chars: str, *, last: bool = False) -> tuple[list[_Piece], str, list[_Piece]]:
    """`pieces` split at the first (or last) of `chars` in literal text: before, the character ("" when
    there is none, and everything is before), after. Text inside a `{{ }}` never splits."""
    order = range(len(pieces) - 1, -1, -1) if last else range(len(pieces))
    for i in order:
        piece = pieces[i]
        if not isinstance(piece, str):
            continue
        found = [p for p in (piece.rfind(c) if last else piece.find(c) for c in chars) if p >= 0]
        if not found:
            continue
        at = max(found) if last else min(found)
        before = [*pieces[:i], *([piece[:at]] if at else [])]
        after = [*([piece[at + 1 :]] if piece[at + 1 :] else []), *pieces[i + 1 :]]
        return before, piece[at], after
    return list(pieces), "", []


def _has_hole(pieces: Sequence[_Piece]) -> bool:
    return any(isinstance(p, _Hole) for p in pieces)


def _literal(pieces: Sequence[_Piece]) -> str:
    return "".join(p for p in pieces if isinstance(p, str))


def _layout(source: str) -> tuple[_Layout | None, list[str]]:
    """The template cut into parts, and every problem with its shape (the expressions inside aside)."""
    pieces = _pieces(source)
    first = pieces[0] if pieces and isinstance(pieces[0], str) else ""
    scheme = _SCHEME.match(first)
    if scheme is None:
        return None, [
            "the scheme of a templated url must be written out: start it with https:// (or http://), "
            "then the host; a template may fill the path, the query and, with allow_hosts, the host"
        ]
    problems = []
    if scheme.group(1).lower() not in ("http", "https"):
        problems.append("the url must start with http:// or https://")
    rest: list[_Piece] = [*([first[scheme.end() :]] if first[scheme.end() :] else []), *pieces[1:]]
    authority, delimiter, rest = _cut(rest, "/?#")
    if delimiter:
        rest.insert(0, delimiter)
    userinfo, at, host_port = _cut(authority, "@", last=True)
    if not at:
        userinfo, host_port = [], userinfo
    elif _has_hole(userinfo):
        problems.append("the user:password part of url cannot be templated; write it out, or use a header")
    head = f"{first[: scheme.end()]}{_literal(userinfo)}{at}"
    if host_port and isinstance(host_port[0], str) and host_port[0].startswith("["):
        inside, bracket, after = _cut(host_port, "]")
        if not bracket or _has_hole(inside):
            problems.append("an IPv6 address in url must be written out whole, like https://[2001:db8::1]/")
        host: list[_Piece] = [*inside, bracket]
        if after and not (isinstance(after[0], str) and after[0].startswith(":")):
            problems.append("after the ] of an IPv6 address, url must go on with :port or a /")
        _, colon, port_pieces = _cut(after, ":")
    else:
        host, colon, port_pieces = _cut(host_port, ":")
    port = port_pieces if colon else None
    path_query, hash_mark, fragment = _cut(rest, "#")
    if _has_hole(fragment):
        problems.append("a #fragment is never sent to the receiver; take the template out of it")
    path, question, query = _cut(path_query, "?")
    layout = _Layout(
        head=head,
        host=tuple(host),
        port=tuple(port) if port is not None else None,
        path=tuple(path),
        query=tuple(query) if question else None,
        fragment=f"{hash_mark}{_literal(fragment)}",
    )
    if not layout.templated_host:
        if not _literal(host):
            problems.append("url has no host; write it like https://example.com/webhooks/{{ data.id }}")
        if port is not None:
            written = _literal(port)
            if not written.isdigit() or not 1 <= int(written) <= 65535:
                problems.append(f"url has port {written!r}; give a number from 1 to 65535")
    return layout, problems


def _unlisted_hosts(layout: _Layout, allow_hosts: Sequence[str]) -> list[str]:
    if not layout.templated_host or allow_hosts:
        return []
    if _has_hole(layout.host):
        return [
            f"the host of url is templated, so the hook must list the hosts it may send to: add {ALLOW_HOSTS}, "
            'like allow_hosts: ["*.shop.example"] (event data could otherwise send the request, and its '
            "credentials, anywhere)"
        ]
    return [
        f"the port of url is templated, which lets event data pick the service the request goes to: write "
        f"the port out, or list the hosts the hook may reach in {ALLOW_HOSTS} (a templated port is allowed only "
        'with it), like allow_hosts: ["api.example.com"]'
    ]


def url_problems(source: str, allow_hosts: Sequence[str] = ()) -> list[str]:
    """What is wrong with a templated url (not the expressions in it, which templates checks, nor the
    allow_hosts entries, which glob_problem does)."""
    layout, problems = _layout(source)
    return problems if layout is None else [*problems, *_unlisted_hosts(layout, allow_hosts)]


def host_is_templated(source: str) -> bool | None:
    """Whether the host (or port) of a url is templated; None when the url cannot be cut into parts."""
    layout, _ = _layout(source)
    return None if layout is None else layout.templated_host


def glob_problem(glob: str) -> str | None:
    """What is wrong with one allow_hosts entry, or None."""
    labels = glob.lower().split(".")
    if not all(_GLOB_LABEL.fullmatch(label) for label in labels):
        return (
            f"allow_hosts entry {glob!r} is not a host name pattern; write names like api.shop.example or "
            "*.shop.example (letters, digits, - and *, labels between dots)"
        )
    if labels[-1].isdigit():
        return (
            f"allow_hosts entry {glob!r} looks like an address; allow_hosts lists host names "
            "(addresses go in allow_destinations)"
        )
    # A name written out is one host, whatever its length; a pattern must name the domain it ranges over.
    if "*" in glob and (len(labels) < 3 or any("*" in label for label in labels[-2:])):
        return (
            f"allow_hosts entry {glob!r} would let event data pick almost any host; "
            "write out at least the last two labels, like *.shop.example"
        )
    return None


def _host_pattern(globs: Sequence[str]) -> re.Pattern[str]:
    """One pattern for all of a hook's allow_hosts: `*` is any part of one label, never a dot."""
    alternatives = (re.escape(g.lower()).replace(r"\*", "[a-z0-9-]*") for g in globs)
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


@dataclass(frozen=True, slots=True)
class UrlTemplate:
    """A compiled url template: `render(event)` gives the URL of one delivery."""

    source: str
    head: str
    host: _Part
    port: _Part | None
    path: _Part
    query: _Part | None
    fragment: str
    templated_host: bool
    templated_path: bool
    allow_hosts: tuple[str, ...]
    hosts: re.Pattern[str]
    # Shows a config secret as its reference (the hook's Redactor.text): a reason quoting the host is
    # recorded and alerted, and cut to a length first, which would leave a cut secret unfound after.
    hide: Callable[[str], str] = str

    def render(self, event: Mapping[str, object]) -> str:
        """The URL for this event. Raises templates.RenderError (an expression fails on it) or
        UrlRenderError (the URL it gives cannot be used)."""
        out = [self.head]
        if self.templated_host:
            out.append(self._host(event))
        else:
            out.append("".join(p for p in self.host if isinstance(p, str)))
            if self.port is not None:
                out.append(":" + "".join(p for p in self.port if isinstance(p, str)))
        path = _encoded(self.path, event)
        if self.templated_path:
            _check_segments(path)
        out.append(path)
        if self.query is not None:
            out.append("?" + _encoded(self.query, event))
        out.append(self.fragment)
        return "".join(out)

    def destination(self, event: Mapping[str, object], hide: Callable[[str], str] | None = None) -> str:
        """The host (and port, when templated) this event's request goes to: what a hook with a templated
        host keeps its rate limit, breaker and receiver's pause by. Raises as `render`.

        `hide` shows a config secret as its reference (Redactor.text): the destination is stored, logged,
        listed and told to alert hooks, so a `${VAR}` in the url's host must not be in it. One written in
        capitals is found in the name as written (the host is lower case)."""
        name, host, port = self._parts(event)
        hide = hide or self.hide
        hidden = hide(name)
        shown = lower_outside_references(hidden).removesuffix(".") if hidden != name else hide(host)
        return shown if port is None else f"{shown}:{port}"

    def _host(self, event: Mapping[str, object]) -> str:
        _, host, port = self._parts(event)
        return host if port is None else f"{host}:{port}"

    def _parts(self, event: Mapping[str, object]) -> tuple[str, str, int | None]:
        """The host name as rendered, checked and in lower case, and the port when templated."""
        name = "".join(p if isinstance(p, str) else p.value(event) for p in self.host)
        # One trailing dot (a fully qualified name, as a DNS zone writes it) names the same host: dropped,
        # so that `acme.shop.example.` is sent to, matched against allow_hosts and gated (rate limit,
        # breaker, pause) as `acme.shop.example`, not failed for good as an invalid name.
        host = name.lower().removesuffix(".")
        if len(host) > _MAX_HOST_CHARS or not _HOST_NAME.fullmatch(host) or host.rpartition(".")[2].isdigit():
            raise UrlRenderError(
                f"the host {_shown(self.hide(name))} is not a valid host name (letters, digits and -, labels between "
                "dots); "
                f"the hook sends only to names in {ALLOW_HOSTS}"
            )
        if not self.hosts.fullmatch(host):
            raise UrlRenderError(
                f"the host {_shown(self.hide(name))} matches none of {ALLOW_HOSTS} "
                f"({', '.join(map(self.hide, self.allow_hosts))}); the hook "
                f"sends only to the hosts it lists: add it to {ALLOW_HOSTS} if it should get this hook's requests"
            )
        if self.port is None:
            return name, host, None
        port = "".join(p if isinstance(p, str) else p.value(event) for p in self.port)
        if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
            raise UrlRenderError(f"the port {_shown(self.hide(port))} is not a number from 1 to 65535")
        return name, host, int(port)


_REFERENCE = re.compile(r"(\$\{[^}]*\})")


def lower_outside_references(text: str) -> str:
    """`text` in lower case but for the `${...}` references a secret is shown as (Redactor.text)."""
    return "".join(part if _REFERENCE.fullmatch(part) else part.lower() for part in _REFERENCE.split(text))


def _encoded(part: _Part, event: Mapping[str, object]) -> str:
    """A path or query with each rendered value percent-encoded whole: nothing in it is a delimiter."""
    return "".join(p if isinstance(p, str) else quote(p.value(event), safe="", errors="surrogatepass") for p in part)


def _check_segments(path: str) -> None:
    # A segment that is `.` or `..` (or their escapes, which some servers decode first) would move the
    # request up the receiver's path: `/orders/{{ data.id }}` with id `..` is not an order.
    for segment in path.split("/"):
        if unquote(segment) in (".", ".."):
            raise UrlRenderError(
                f"a value makes the path segment {segment!r}, which would move the request to another path of "
                "the receiver; the event's value cannot be used in the URL"
            )


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…")


def compile_url(source: str, allow_hosts: Sequence[str] = ()) -> UrlTemplate:
    """Compile a templated url. Raises UrlTemplateError with every problem found."""
    layout, problems = _layout(source)
    if layout is not None:
        problems += _unlisted_hosts(layout, allow_hosts)
    problems += [p for p in map(glob_problem, allow_hosts) if p is not None]
    slots: dict[str, _Slot] = {}

    def compiled(pieces: Sequence[_Piece]) -> _Part:
        out: list[str | _Slot] = []
        for p in pieces:
            if isinstance(p, str):
                out.append(p)
                continue
            try:
                out.append(slots.setdefault(p.text, _Slot(compile_template(p.text), p.text)))
            except TemplateError as e:
                problems.extend(f"in url: {problem.message}" for problem in e.problems)
        return tuple(out)

    if layout is None:
        raise UrlTemplateError(problems)
    host, port = compiled(layout.host), compiled(layout.port) if layout.port is not None else None
    path, query = compiled(layout.path), compiled(layout.query) if layout.query is not None else None
    if problems:
        raise UrlTemplateError(problems)
    return UrlTemplate(
        source=source,
        head=layout.head,
        host=host,
        port=port,
        path=path,
        query=query,
        fragment=layout.fragment,
        templated_host=layout.templated_host,
        templated_path=_has_hole(layout.path),
        allow_hosts=tuple(allow_hosts),
        hosts=_host_pattern(allow_hosts),
    )


__all__ = [
    "ALLOW_HOSTS",
    "UrlRenderError",
    "UrlTemplate",
    "UrlTemplateError",
    "compile_url",
    "glob_problem",
    "host_is_templated",
    "is_templated",
    "url_problems",
]
