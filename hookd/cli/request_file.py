"""The request file of `hookd test --request`: one recorded HTTP request, YAML or JSON.

    method: POST
    path: /hooks/github?ref=main        # the query may follow the path
    headers: {X-GitHub-Event: push}     # or a list of [name, value] pairs, for repeated headers
    body: '{"ref": "refs/heads/main"}'  # or body_base64: ..., or body_file: path (from this file's folder)
    remote_ip: 140.82.115.4             # default 127.0.0.1
    received_at: 2026-12-05T12:00:00Z   # optional: the time verification checks against, unless --at

Every value keeps its line, so an unknown key or a wrong type is reported as file:line with the key.
The body is kept byte for byte (signatures cover it): `${...}` in it is text, not a variable, which is
why this reader does not use the config's YAML loader (hookd.config.located interpolates).
JSON files are read by the json module (YAML readers refuse the tabs JSON tools indent with).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml
from yarl import URL

from hookd.config.located import BoundedLoader, YamlLimitExceeded
from hookd.errors import HookdError, Problem
from hookd.inbound.recorded import RecordedRequest
from hookd.suggest import closest

KEYS = ("method", "path", "headers", "body", "body_base64", "body_file", "remote_ip", "received_at")
_BODY_KEYS = ("body", "body_base64", "body_file")
_METHOD = re.compile(r"[A-Za-z]+")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)
_EPOCH = re.compile(r"[0-9]{1,12}(\.[0-9]+)?")


class RequestFileError(HookdError):
    """The request file cannot be used: every problem, each with file:line."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


@dataclass(slots=True)
class _Node:
    """A value with the line it is written on; a mapping's entries keep their keys' lines."""

    value: object  # the plain value (for a mapping or a list: the node's children, below)
    line: int
    entries: dict[str, tuple[int, _Node]] | None = None  # key -> (the key's line, the value)
    items: list[_Node] | None = field(default=None)


def parse_moment(text: str) -> float:
    """Epoch seconds from an RFC 3339 time (2026-12-05T12:00:00Z) or a Unix time in seconds. Raises ValueError."""
    value = text.strip()
    if _EPOCH.fullmatch(value):
        return float(value)
    if not _RFC3339.fullmatch(value):
        raise ValueError(f"{text!r} is not a time; write RFC 3339 like 2026-12-05T12:00:00Z, or Unix seconds")
    return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T")).timestamp()


def load_request(path: Path) -> RecordedRequest:
    """The request in `path`. Raises RequestFileError."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RequestFileError([_problem(file, 0, "the request file does not exist")]) from None
    except IsADirectoryError:
        raise RequestFileError([_problem(file, 0, "is a directory; pass the request file itself")]) from None
    except OSError as e:
        raise RequestFileError([_problem(file, 0, f"cannot read the request file: {e.strerror}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise RequestFileError([_problem(file, line, "not UTF-8 text; save it as UTF-8")]) from None
    suffix = path.suffix.lower()
    json_file = suffix == ".json" or (suffix not in (".yaml", ".yml") and text.lstrip().startswith("{"))
    root = _json_root(text, file) if json_file else _yaml_root(text, file)
    reader = _Reader(file, path.parent)
    request = reader.request(root)
    if reader.problems or request is None:
        raise RequestFileError(sorted(reader.problems, key=lambda p: p.line))
    return request


def _problem(file: str, line: int, message: str) -> Problem:
    return Problem(file=file, line=line, column=0, path="", message=message)


# -- JSON and YAML to nodes with lines ---------------------------------------------------------------


def _json_root(text: str, file: str) -> _Node:
    decoder = json.JSONDecoder()

    # Lines are counted from a value's start: the json module's own scanners read each piece.
    def line_at(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    def expect(pos: int, char: str) -> int:
        pos = skip(pos)
        if text[pos : pos + 1] != char:
            raise json.JSONDecodeError(f"Expecting {char!r}", text, pos)
        return pos + 1

    def value(pos: int, depth: int) -> tuple[_Node, int]:
        pos = skip(pos)
        if depth > 20:
            raise json.JSONDecodeError("nested too deep for a request file", text, pos)
        start = line_at(pos)
        if text[pos : pos + 1] == "{":
            entries: dict[str, tuple[int, _Node]] = {}
            pos = skip(pos + 1)
            if text[pos : pos + 1] == "}":
                return _Node({}, start, entries=entries), pos + 1
            while True:
                pos = skip(pos)
                if text[pos : pos + 1] != '"':
                    raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
                key_line = line_at(pos)
                key, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
                if key in entries:
                    raise json.JSONDecodeError(f"the key {key!r} appears twice", text, pos)
                pos = expect(pos, ":")
                child, pos = value(pos, depth + 1)
                entries[key] = (key_line, child)
                pos = skip(pos)
                if text[pos : pos + 1] == ",":
                    pos += 1
                    continue
                return _Node(None, start, entries=entries), expect(pos, "}")
        if text[pos : pos + 1] == "[":
            items: list[_Node] = []
            pos = skip(pos + 1)
            if text[pos : pos + 1] == "]":
                return _Node([], start, items=items), pos + 1
            while True:
                child, pos = value(pos, depth + 1)
                items.append(child)
                pos = skip(pos)
                if text[pos : pos + 1] == ",":
                    pos += 1
                    continue
                return _Node(None, start, items=items), expect(pos, "]")
        scalar, end = decoder.raw_decode(text, pos)
        return _Node(scalar, start), end

    try:
        root, end = value(0, 0)
        if skip(end) != len(text):
            raise json.JSONDecodeError("Extra data", text, skip(end))
    except json.JSONDecodeError as e:
        raise RequestFileError([_problem(file, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})")]) from None
    except (IndexError, ValueError):  # raw_decode at the end of the text
        raise RequestFileError([_problem(file, line_at(len(text)), "invalid JSON: the file ends too soon")]) from None
    return root


def _yaml_root(text: str, file: str) -> _Node:
    try:
        # The config's bounded loader: a small file of nested aliases must not expand for hours.
        node = yaml.compose(text, Loader=BoundedLoader)
    except YamlLimitExceeded as e:
        raise RequestFileError([_problem(file, e.line, e.message)]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise RequestFileError([_problem(file, line, f"invalid YAML: {e.problem or e}")]) from None
    except yaml.YAMLError as e:
        raise RequestFileError([_problem(file, 0, f"invalid YAML: {e}")]) from None
    if node is None:
        raise RequestFileError([_problem(file, 0, "the file is empty; write method, path, headers and body")])
    constructor = yaml.constructor.SafeConstructor()
    problems: list[Problem] = []

    def build(n: yaml.Node, depth: int) -> _Node:
        line = n.start_mark.line + 1
        if depth > 20:  # also what stops an alias that refers to a list containing it
            raise RequestFileError([_problem(file, line, "nested too deep for a request file")])
        if isinstance(n, yaml.MappingNode):
            entries: dict[str, tuple[int, _Node]] = {}
            for key_node, value_node in n.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                key_line = key_node.start_mark.line + 1
                if not isinstance(key, str):
                    problems.append(_problem(file, key_line, "a key must be plain text"))
                elif key in entries:
                    problems.append(_problem(file, key_line, f"the key {key!r} appears twice; keep one"))
                else:
                    entries[key] = (key_line, build(value_node, depth + 1))
            return _Node(None, line, entries=entries)
        if isinstance(n, yaml.SequenceNode):
            return _Node(None, line, items=[build(item, depth + 1) for item in n.value])
        assert isinstance(n, yaml.ScalarNode)
        try:
            return _Node(constructor.construct_object(n, deep=True), line)
        except (yaml.YAMLError, ValueError, TypeError):
            problems.append(_problem(file, line, f"YAML cannot read {n.value!r}; quote it to keep it as text"))
            return _Node(n.value, line)

    root = build(node, 0)
    if problems:
        raise RequestFileError(problems)
    return root


# -- the request -------------------------------------------------------------------------------------


def _kind(node: _Node) -> str:
    if node.entries is not None:
        return "a mapping"
    if node.items is not None:
        return "a list"
    v = node.value
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    return "a string" if isinstance(v, str) else f"a {type(v).__name__}"


class _Reader:
    def __init__(self, file: str, folder: Path) -> None:
        self.file = file
        self.folder = folder
        self.problems: list[Problem] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append(_problem(self.file, line, message))

    def text(self, entries: dict[str, tuple[int, _Node]], key: str, hint: str) -> str | None:
        if key not in entries:
            return None
        line, node = entries[key]
        if not isinstance(node.value, str) or node.entries is not None or node.items is not None:
            self.add(line, f"{key} must be a string, not {_kind(node)}; {hint}")
            return None
        return node.value

    def request(self, root: _Node) -> RecordedRequest | None:
        if root.entries is None:
            self.add(root.line, "the request file must be a mapping of method, path, headers and body")
            return None
        entries = root.entries
        for key, (line, _) in entries.items():
            if key not in KEYS:
                close = closest(key, KEYS)
                hint = f"did you mean {close!r}?" if close else f"the keys are: {', '.join(KEYS)}"
                self.add(line, f"unknown key {key!r}; {hint}")
        method = self.text(entries, "method", "write it like POST")
        if method is not None and not _METHOD.fullmatch(method):
            self.add(entries["method"][0], f"method {method!r} is not an HTTP method; write it like POST")
            method = None
        target = self.text(entries, "path", "write it like /hooks/github?ref=main")
        if "path" not in entries:
            self.add(root.line, "path is missing; write the request's path, like /hooks/github")
        elif target is not None and not target.startswith("/"):
            self.add(entries["path"][0], f"path {target!r} must start with /, like /hooks/github")
            target = None
        headers = self.headers(entries.get("headers"))
        body = self.body(entries, root.line)
        remote_ip = self.text(entries, "remote_ip", "write an address like 140.82.115.4")
        received_at = self.received_at(entries)
        if self.problems or target is None or headers is None or body is None:
            return None
        url = URL(target)  # as the http source's aiohttp reads the request line
        return RecordedRequest(
            where=self.file,
            method=(method or "POST").upper(),
            path=url.path,
            query=tuple(url.query.items()),
            raw_query=url.query_string,
            headers=headers,
            body=body,
            remote_ip=remote_ip or "127.0.0.1",
            received_at=received_at,
        )

    def headers(self, found: tuple[int, _Node] | None) -> tuple[tuple[str, str], ...] | None:
        if found is None:
            return ()
        line, node = found
        pairs: list[tuple[str, str, int]] = []
        if node.entries is not None:
            for key, (_, v) in node.entries.items():
                text = self.header_value(key, v)
                if text is not None:
                    pairs.append((key, text, v.line))
        elif node.items is not None:
            for item in node.items:
                pair = item.items
                if pair is None or len(pair) != 2 or not all(isinstance(p.value, str) for p in pair):
                    self.add(item.line, "each header in a list is a [name, value] pair of strings")
                    continue
                first, second = pair[0].value, pair[1].value
                assert isinstance(first, str) and isinstance(second, str)
                pairs.append((first, second, item.line))
        else:
            self.add(line, f"headers must be a mapping of name: value, or a list of [name, value], not {_kind(node)}")
            return None
        out = []
        for name, value, at in pairs:
            if not name or any(c in name for c in " :\r\n") or "\n" in str(value) or "\r" in str(value):
                self.add(
                    at,
                    f"the header {name!r} is not one HTTP can carry (names without spaces or colons, one-line values)",
                )
                continue
            out.append((name.lower(), str(value)))
        return tuple(out)

    def header_value(self, name: str, node: _Node) -> str | None:
        value = node.value
        if node.entries is None and node.items is None:
            if isinstance(value, str):
                return value
            if isinstance(value, int) and not isinstance(value, bool):  # an unquoted timestamp or length
                return str(value)
        self.add(node.line, f"the header {name!r} must be a string, not {_kind(node)}; quote it")
        return None

    def body(self, entries: dict[str, tuple[int, _Node]], line: int) -> bytes | None:
        given = [k for k in _BODY_KEYS if k in entries]
        if len(given) > 1:
            self.add(entries[given[1]][0], f"give one of {', '.join(_BODY_KEYS)}, not {' and '.join(given)}")
            return None
        if not given:
            return b""
        key = given[0]
        text = self.text(entries, key, "the body is text" if key == "body" else "")
        if text is None:
            return None
        at = entries[key][0]
        if key == "body":
            return text.encode()
        if key == "body_base64":
            try:
                return base64.b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError):
                self.add(at, "body_base64 is not valid base64; write the body's bytes in standard base64")
                return None
        body_path = self.folder / text
        try:
            return body_path.read_bytes()
        except OSError as e:
            self.add(
                at,
                f"body_file {text!r}: cannot read {str(body_path)!r}: {e.strerror}; "
                "the path starts from the request file's folder",
            )
            return None

    def received_at(self, entries: dict[str, tuple[int, _Node]]) -> float | None:
        if "received_at" not in entries:
            return None
        line, node = entries["received_at"]
        value = node.value
        if isinstance(value, datetime):  # YAML reads an unquoted time itself
            if value.tzinfo is None:
                self.add(line, "received_at has no timezone; write it with Z for UTC, like 2026-12-05T12:00:00Z")
                return None
            return value.timestamp()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, str):
            self.add(line, f"received_at must be an RFC 3339 time like 2026-12-05T12:00:00Z, not {_kind(node)}")
            return None
        try:
            return parse_moment(value)
        except ValueError as e:
            self.add(line, f"received_at: {e}")
            return None
