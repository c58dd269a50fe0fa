"""YAML to plain Python values, remembering where every value came from.

PyYAML's `safe_load` forgets positions; we compose the node tree instead and convert it ourselves,
so every later check (schema, lint, model) can point at file:line:column. Environment
interpolation (`${VAR}`, `${VAR:-default}`, `${file:/path}`) happens here, per scalar, so a missing
variable is reported at the line that uses it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hookd.config.paths import describe_path
from hookd.errors import Problem

PathKey = tuple[str | int, ...]

_INTERPOLATION = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(slots=True)
class LocatedDocument:
    """A YAML document as plain values plus the position of every value and mapping key."""

    file: str
    data: object
    values: dict[PathKey, Mark] = field(default_factory=dict)
    keys: dict[PathKey, Mark] = field(default_factory=dict)
    # Paths whose value came from ${...}: messages show the reference, never the value (secrets).
    interpolated: dict[PathKey, str] = field(default_factory=dict)
    # Scalar style per path: None plain, "'" or '"' quoted, "|" or ">" block.
    styles: dict[PathKey, str | None] = field(default_factory=dict)
    # Paths whose ${...} could not be resolved: already reported, so later checks skip them.
    unresolved: set[PathKey] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    def mark(self, path: PathKey, *, key: bool = False) -> Mark:
        """Where `path` is written; the nearest enclosing node when it is absent (a missing key)."""
        if key and path in self.keys:
            return self.keys[path]
        p = path
        while p:
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), Mark(1, 1))

    def shown(self, path: PathKey, value: object) -> str:
        """The value as it may appear in a message: its ${...} reference if interpolated."""
        if path in self.interpolated:
            return self.interpolated[path]
        return repr(value)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, doc: LocatedDocument, base_dir: Path, env: Mapping[str, str]) -> None:
        self.doc = doc
        self.base_dir = base_dir
        self.env = env
        self.constructor = yaml.constructor.SafeConstructor()
        self.resolver = yaml.resolver.Resolver()
        self.pending: list[tuple[Mark, PathKey, str]] = []

    def problem(self, mark: Mark, path: PathKey, message: str) -> None:
        # Described once the whole tree is built, so list items can be named by their `name`.
        self.pending.append((mark, path, message))

    def build(self, node: yaml.Node, path: PathKey) -> object:
        self.doc.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, object] = {}
            self.constructor.flatten_mapping(node)  # resolves `<<: *anchor` merges
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    self.problem(_mark(key_node), path, "mapping keys must be plain strings")
                    continue
                child = (*path, key)
                if key in result:
                    first = self.doc.keys[child]
                    self.problem(
                        _mark(key_node),
                        child,
                        f"key {key!r} appears twice in the same mapping (first on line {first.line}); "
                        "YAML would silently keep only the last one, so remove one of them",
                    )
                    continue
                self.doc.keys[child] = _mark(key_node)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.build_scalar(node, path)

    def build_scalar(self, node: yaml.ScalarNode, path: PathKey) -> object:
        self.doc.styles[path] = node.style
        if node.tag == _STR_TAG and "$" in node.value:
            text = self.interpolate(node, path)
            if text is None:
                self.doc.unresolved.add(path)
                return node.value
            if text != node.value:
                self.doc.interpolated[path] = node.value
                if node.style is None:
                    # An unquoted `${PORT}` should become a number like an unquoted 8080 would.
                    tag = self.resolver.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
                    node = yaml.ScalarNode(tag, text, node.start_mark, node.end_mark, style=None)
                else:
                    return text
        return self.constructor.construct_object(node, deep=True)

    def interpolate(self, node: yaml.ScalarNode, path: PathKey) -> str | None:
        failed = False

        def replace(m: re.Match[str]) -> str:
            nonlocal failed
            if m.group(0) == "$${":
                return "${"
            ref = m.group(1)
            resolved = self.resolve_reference(ref, node, path)
            if resolved is None:
                failed = True
                return ""
            return resolved

        text = _INTERPOLATION.sub(replace, node.value)
        return None if failed else text

    def resolve_reference(self, ref: str, node: yaml.ScalarNode, path: PathKey) -> str | None:
        mark = _mark(node)
        if ref.startswith("file:"):
            raw = ref[len("file:") :].strip()
            if not raw:
                self.problem(mark, path, "${file:} needs a path, like ${file:/run/secrets/token}")
                return None
            secret_path = Path(os.path.expanduser(raw))
            if not secret_path.is_absolute():
                secret_path = self.base_dir / secret_path
            try:
                return secret_path.read_text(encoding="utf-8").rstrip("\r\n")
            except FileNotFoundError:
                self.problem(mark, path, f"${{file:{raw}}}: file {str(secret_path)!r} does not exist")
            except (OSError, UnicodeDecodeError) as e:
                reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
                self.problem(mark, path, f"${{file:{raw}}}: cannot read {str(secret_path)!r}: {reason}")
            return None
        name, sep, default = ref.partition(":-")
        if not _VAR_NAME.fullmatch(name):
            self.problem(
                mark,
                path,
                f"${{{ref}}} is not a valid reference; write ${{VAR}}, ${{VAR:-default}} or ${{file:/path}} "
                "(and $${ for a literal ${)",
            )
            return None
        if name in self.env:
            return self.env[name]
        if sep:
            return default
        self.problem(
            mark,
            path,
            f"environment variable {name} is not set; set it, or give a default with ${{{name}:-value}}",
        )
        return None


def load_located(text: str, file: str, *, base_dir: Path, env: Mapping[str, str] | None = None) -> LocatedDocument:
    """Parse one YAML document. Problems (syntax, duplicate keys, variables) land in `.problems`."""
    doc = LocatedDocument(file=file, data=None)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        where = e.problem_mark or e.context_mark
        line, col = (where.line + 1, where.column + 1) if where else (0, 0)
        what = e.problem or "invalid YAML"
        context = f" ({e.context})" if e.context else ""
        doc.problems.append(
            Problem(
                file=file,
                line=line,
                column=col,
                path="",
                message=f"YAML syntax error: {what}{context}. Check indentation and quoting on this line "
                "or the one before it",
            )
        )
        return doc
    except yaml.YAMLError as e:
        doc.problems.append(Problem(file=file, line=0, column=0, path="", message=f"YAML error: {e}"))
        return doc
    if not nodes:
        doc.problems.append(
            Problem(file=file, line=0, column=0, path="", message="the file is empty; start with `version: 1`")
        )
        return doc
    if len(nodes) > 1:
        second = nodes[1]
        doc.problems.append(
            Problem(
                file=file,
                line=second.start_mark.line + 1,
                column=1,
                path="",
                message="the file holds several YAML documents (---); hookd reads exactly one per file",
            )
        )
    builder = _Builder(doc, base_dir, os.environ if env is None else env)
    doc.data = builder.build(nodes[0], ())
    for mark, path, message in builder.pending:
        doc.problems.append(
            Problem(
                file=file,
                line=mark.line,
                column=mark.column,
                path=describe_path(path, doc.data),
                message=message,
            )
        )
    return doc
