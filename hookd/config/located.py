"""YAML to plain Python values, remembering where every value came from.

PyYAML's `safe_load` forgets positions; we compose the node tree instead and convert it ourselves,
so every later check (schema, lint, model) can point at file:line:column. Environment
interpolation (`${VAR}`, `${VAR:-default}`, `${file:/path}`) happens here, per scalar, so a missing
variable is reported at the line that uses it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hookd.config.paths import describe_path
from hookd.errors import Problem

PathKey = tuple[str | int, ...]

# `$${` is an escaped `${`; `${...}` a reference; a `${` with no `}` after it is an unclosed one.
_INTERPOLATION = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STR_TAG = "tag:yaml.org,2002:str"

# Bounds on what one YAML file may make the loader build. Aliases share a node, but every later
# step sees a copy per use, so nine nested aliases of nine can ask for a billion values ("billion
# laughs"); and the composer and every check after it recurse once per level of nesting.
MAX_ALIAS_VALUES = 10_000  # values that aliases (*name, <<: *name) may bring in, over the whole file
MAX_NESTING = 200  # mappings and lists inside one another


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
    # Values that are a ${VAR:-default}'s default, because VAR is unset or empty: path -> VAR.
    defaulted: dict[PathKey, str] = field(default_factory=dict)
    # Every value substituted from the environment or a file, with the reference that produced it,
    # so a message that would quote one can show the reference instead.
    secrets: dict[str, str] = field(default_factory=dict)
    secret_paths: dict[str, list[PathKey]] = field(default_factory=dict)  # each value -> every place it is used
    problems: list[Problem] = field(default_factory=list)
    # With check_environment=False: the references left unresolved because their variable is unset
    # or their file missing, not reported as problems (validate --no-environment, CI without secrets).
    unchecked: set[str] = field(default_factory=set)

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
        if isinstance(value, bool) or value is None:
            return "true" if value is True else "false" if value is False else "null"  # as YAML writes them
        return repr(value)


def without_references(raw: str) -> str:
    """`raw` with each ${...} replaced by a neutral `x`: its shape, without the values it brings in."""
    return _INTERPOLATION.sub(lambda m: "${" if m.group(0) == "$${" else "x", raw)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _bad_key_message(key_node: yaml.Node) -> str:
    if isinstance(key_node, yaml.ScalarNode):
        return f"the key {key_node.value} is not read as text by YAML; quote it, like '{key_node.value}'"
    return "a key must be plain text, not a list or a mapping"


class _Builder:
    def __init__(
        self, doc: LocatedDocument, base_dir: Path, env: Mapping[str, str], *, check_environment: bool = True
    ) -> None:
        self.doc = doc
        self.base_dir = base_dir
        self.env = env
        self.check_environment = check_environment
        self.constructor = yaml.constructor.SafeConstructor()
        self.resolver = yaml.resolver.Resolver()
        self.pending: list[tuple[Mark, PathKey, str]] = []
        self.active: set[int] = set()  # mappings and lists being built: an alias back to one is a cycle
        self.own_keys: dict[int, set[int]] = {}

    def problem(self, mark: Mark, path: PathKey, message: str) -> None:
        # Described once the whole tree is built, so list items can be named by their `name`.
        self.pending.append((mark, path, message))

    def build(self, node: yaml.Node, path: PathKey) -> object:
        self.doc.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in self.active:
                self.problem(
                    _mark(node),
                    path,
                    "this alias refers to a mapping or list that contains it, which can never end; "
                    "copy the values instead",
                )
                return None
            self.active.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self.build_mapping(node, path)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        assert isinstance(node, yaml.ScalarNode)
        return self.build_scalar(node, path)

    def build_mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, object]:
        # Keys written in this mapping, as opposed to those a `<<: *anchor` merge brings in. Kept
        # per node: an anchored mapping reached again through an alias is already flattened.
        own = self.own_keys.setdefault(id(node), {id(k) for k, _ in node.value})
        try:
            self.constructor.flatten_mapping(node)  # resolves `<<: *anchor` merges
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or "invalid merge"
            self.problem(_mark(node), path, f"cannot merge into this mapping: {problem}; `<<:` takes an *alias")
            return {}
        chosen: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        written: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            ok, key = self.construct(key_node, path) if isinstance(key_node, yaml.ScalarNode) else (True, None)
            if not ok:
                continue
            if not isinstance(key, str):
                self.problem(_mark(key_node), path, _bad_key_message(key_node))
                continue
            if id(key_node) not in own:
                chosen[key] = (key_node, value_node)  # merged: a later merge source wins, as in YAML
                continue
            if key in written:
                self.problem(
                    _mark(key_node),
                    (*path, key),
                    f"key {key!r} appears twice in the same mapping (first on line {written[key].line}); "
                    "YAML would silently keep only one of them, so remove the other",
                )
                continue
            written[key] = _mark(key_node)
            chosen[key] = (key_node, value_node)  # a key written here overrides a merged one
        result: dict[str, object] = {}
        for key, (key_node, value_node) in chosen.items():
            child = (*path, key)
            self.doc.keys[child] = _mark(key_node)
            result[key] = self.build(value_node, child)
        return result

    def construct(self, node: yaml.ScalarNode, path: PathKey) -> tuple[bool, object]:
        """The Python value of a scalar, or (False, None) with a problem when YAML cannot read it."""
        try:
            return True, self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            reason = getattr(e, "problem", None) or str(e)
        except (ValueError, TypeError) as e:  # e.g. 2024-13-45 matches the date syntax, but is no date
            reason = str(e)
        self.problem(
            _mark(node),
            path,
            f"YAML cannot read {node.value!r} ({reason}); quote it to keep it as text",
        )
        return False, None

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
        ok, value = self.construct(node, path)
        if not ok:
            self.doc.unresolved.add(path)  # reported; later checks would only repeat it
        return value

    def interpolate(self, node: yaml.ScalarNode, path: PathKey) -> str | None:
        failed = False

        def replace(m: re.Match[str]) -> str:
            nonlocal failed
            if m.group(0) == "$${":
                return "${"
            ref = m.group(1)
            if ref is None:
                self.problem(
                    _mark(node),
                    path,
                    "'${' is never closed; write ${VAR}, ${VAR:-default} or ${file:/path}, or $${ for a literal ${",
                )
                failed = True
                return ""
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
                secret = _read_secret_file(secret_path)
            except _NotASecretFile as e:
                self.problem(mark, path, f"${{file:{raw}}}: {str(secret_path)!r} {e}")
            except FileNotFoundError:
                if not self.check_environment:
                    self.doc.unchecked.add(f"${{file:{raw}}}")
                    return None
                self.problem(
                    mark,
                    path,
                    f"${{file:{raw}}}: file {str(secret_path)!r} does not exist; create it or fix the path "
                    "(a relative path starts from the config file's directory)",
                )
            except OSError as e:
                reason = e.strerror or type(e).__name__
                self.problem(mark, path, f"${{file:{raw}}}: cannot read {str(secret_path)!r}: {reason}")
            else:
                self.doc.secrets[secret] = f"${{file:{raw}}}"
                self.doc.secret_paths.setdefault(secret, []).append(path)
                return secret
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
        value = self.env.get(name)
        if sep and not value:
            self.doc.defaulted[path] = name
            return default  # as in the shell, :- also replaces a variable that is set but empty
        if value is not None:
            self.doc.secrets[value] = f"${{{name}}}"
            self.doc.secret_paths.setdefault(value, []).append(path)
            return value
        if not self.check_environment:
            self.doc.unchecked.add(f"${{{name}}}")
            return None
        self.problem(
            mark,
            path,
            f"environment variable {name} is not set; set it, or give a default with ${{{name}:-value}}",
        )
        return None


def _syntax_problem(e: yaml.MarkedYAMLError, file: str) -> Problem:
    problem = e.problem or "invalid YAML"
    context = e.context or ""
    where = e.problem_mark or e.context_mark
    if "quoted scalar" in context and "end of stream" in problem and e.context_mark:
        # PyYAML notices at the end of the file; the mistake is where the quote opened.
        where = e.context_mark
        message = "YAML syntax error: this quoted string is never closed; add the closing quote"
    elif "'\\t'" in problem:
        message = "YAML syntax error: a tab character here; YAML indents with spaces only, so replace the tab"
    elif problem.startswith("expected <block end>"):
        message = (
            "YAML syntax error: this line's indentation does not match the lines above it; keys of one "
            "mapping start in the same column, and list items under their key"
        )
    elif "flow" in context and problem.endswith("but got '{'"):
        message = (
            "YAML syntax error: '{' inside a {...} or [...] on one line; an unquoted ${VAR} cannot go there, "
            'so quote it ("${VAR}") or write the mapping one key per line'
        )
    elif problem == "mapping values are not allowed here":
        message = "YAML syntax error: ': ' inside a plain value; quote the whole value (\"like: this\")"
    else:
        message = (
            f"YAML syntax error: {problem}{f' ({context})' if context else ''}. "
            "Check indentation and quoting on this line or the one before it"
        )
    line, col = (where.line + 1, where.column + 1) if where else (0, 0)
    return Problem(file=file, line=line, column=col, path="", message=message)


def _document_start_line(text: str, node: yaml.Node) -> int:
    """The line of the `---` that starts the document holding `node` (the node's own line if none)."""
    lines = text.splitlines()
    for i in range(min(node.start_mark.line, len(lines) - 1), -1, -1):
        if lines[i].startswith("---"):
            return i + 1
    return node.start_mark.line + 1


MAX_SECRET_FILE_BYTES = 64 * 1024


class _NotASecretFile(Exception):
    pass


def _read_secret_file(path: Path) -> str:
    """One secret from a regular file of bounded size: `${file:/dev/zero}` or a FIFO would otherwise make
    validate and serve read (or wait) forever."""
    with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK)) as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise _NotASecretFile("is not a regular file; a secret file holds one value, like /run/secrets/token")
        data = f.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise _NotASecretFile(
            f"is larger than {MAX_SECRET_FILE_BYTES // 1024}KiB; a secret file holds one value, like a token or key"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _NotASecretFile(
            f"is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); a secret file holds one value "
            "as text: save it as UTF-8, or store a binary key base64-encoded"
        ) from None
    return text.rstrip("\r\n")


class YamlLimitExceeded(yaml.YAMLError):
    def __init__(self, mark: object, message: str) -> None:
        super().__init__(message)
        line, column = getattr(mark, "line", -1), getattr(mark, "column", -1)
        self.line, self.column = line + 1, column + 1  # 0, 0 when PyYAML gave no position
        self.message = message


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe composer, refusing a file past MAX_NESTING or MAX_ALIAS_VALUES at the line
    that crosses the bound, before anything is expanded."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliased = 0  # values brought in by aliases so far
        self.sizes: dict[int, int] = {}  # id(collection node) -> values it holds once expanded

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            # An alias to a collection still being composed (a cycle) counts 1; the builder reports it.
            self.aliased += self.sizes.get(id(node), 1)
            if self.aliased > MAX_ALIAS_VALUES:
                raise YamlLimitExceeded(
                    event.start_mark,
                    f"the aliases in this file (*{event.anchor} here) expand to more than {MAX_ALIAS_VALUES:,} "
                    'values, which looks like a runaway ("billion laughs") document; hookd stops reading it. '
                    "Write the values out, or alias smaller parts",
                )
            return node
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        if self.depth >= MAX_NESTING:
            raise YamlLimitExceeded(
                event.start_mark,
                f"mappings and lists are nested more than {MAX_NESTING} levels deep here; hookd reads at "
                f"most {MAX_NESTING} levels, so flatten the structure",
            )
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = list(node.value) if isinstance(node, yaml.SequenceNode) else []
        self.sizes[id(node)] = 1 + sum(self.sizes.get(id(c), 1) for c in children)
        return node


def load_located(
    text: str,
    file: str,
    *,
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    check_environment: bool = True,
) -> LocatedDocument:
    """Parse one YAML document. Problems (syntax, duplicate keys, variables) land in `.problems`.

    With `check_environment` False, a ${VAR} that is unset or a ${file:...} that does not exist is
    no problem: its value is left unchecked, and the reference is listed in `.unchecked`."""
    doc = LocatedDocument(file=file, data=None)
    try:
        nodes = list(yaml.compose_all(text, Loader=BoundedLoader))
    except YamlLimitExceeded as e:
        doc.problems.append(Problem(file=file, line=e.line, column=e.column, path="", message=e.message))
        return doc
    except yaml.MarkedYAMLError as e:
        doc.problems.append(_syntax_problem(e, file))
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
        doc.problems.append(
            Problem(
                file=file,
                line=_document_start_line(text, nodes[1]),
                column=1,
                path="",
                message="the file holds several YAML documents (---); hookd reads exactly one per file",
            )
        )
    builder = _Builder(doc, base_dir, os.environ if env is None else env, check_environment=check_environment)
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
