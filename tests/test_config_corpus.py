"""A corpus of broken configs: each must be reported with the right sentence at the right place.

Every case is (id, yaml, expected message substring, line, column). Column is None when the case
is about the whole file or a YAML syntax error whose exact column is PyYAML's business.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from hookd.config.load import check_config
from hookd.errors import Problem


class Case(NamedTuple):
    id: str
    text: str
    message: str
    line: int
    column: int | None


def y(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


HOOK = """\
version: 1
hooks:
  - name: a
    events: [order.created]
    url: http://127.0.0.1:8781/
"""
# Lines 1-5 are the hook above; a case appends its mistake from line 6 on, four spaces in.


CASES = [
    # --- YAML itself -------------------------------------------------------------------------
    Case(
        "yaml-bad-indent",
        y("""
            version: 1
            hooks:
              - name: a
               events: [x]
            """),
        "this line's indentation does not match the lines above it",
        4,
        4,
    ),
    Case(
        "yaml-unclosed-quote",
        y("""
            version: 1
            hooks:
              - name: "a
                events: [x]
            """),
        "this quoted string is never closed; add the closing quote",
        3,
        11,
    ),
    Case(
        "yaml-tab-indent",
        "version: 1\nhooks:\n\t- name: a\n",
        "YAML indents with spaces only, so replace the tab",
        3,
        1,
    ),
    Case(
        "yaml-colon-in-plain-value",
        HOOK + "    description: note: this\n",
        "': ' inside a plain value; quote the whole value",
        6,
        22,
    ),
    Case("empty-file", "", "the file is empty; start with `version: 1`", 0, None),
    Case("only-comments", "# nothing here yet\n\n", "the file is empty", 0, None),
    Case("only-document-marker", "---\n", "the file holds no settings; start the file with `version: 1`", 0, None),
    Case(
        "several-documents",
        "version: 1\n---\nversion: 1\n",
        "the file holds several YAML documents (---); hookd reads exactly one per file",
        2,
        1,
    ),
    Case(
        "top-level-list",
        "# a list, not a mapping\n- version: 1\n",
        "the top level must be a mapping; start the file with `version: 1`",
        2,
        1,
    ),
    Case(
        "duplicate-yaml-key",
        HOOK + "    url: http://127.0.0.1:9999/\n",
        "key 'url' appears twice in the same mapping (first on line 5)",
        6,
        5,
    ),
    Case(
        "unquoted-reference-in-flow-mapping",
        "version: 1\nhooks:\n  - {name: a, events: [x], url: 'http://x', concurrency: ${N}}\n",
        "an unquoted ${VAR} cannot go there, so quote it",
        3,
        59,
    ),
    Case(
        "non-string-key",
        "version: 1\n404: not found\n",
        "the key 404 is not read as text by YAML; quote it, like '404'",
        2,
        1,
    ),
    Case(
        "impossible-date",
        HOOK + "    description: 2024-13-45\n",
        "YAML cannot read '2024-13-45' (month must be in 1..12); quote it to keep it as text",
        6,
        18,
    ),
    Case(
        "alias-cycle",
        y("""
            version: 1
            hooks:
              - &h {name: a, events: [x], url: "http://x", payload: *h}
            """),
        "this alias refers to a mapping or list that contains it",
        3,
        5,
    ),
    # --- top level -----------------------------------------------------------------------------
    Case("missing-version", "hooks: []\n", "missing required key 'version'", 1, 1),
    Case("wrong-version", "version: 2\n", "must be 1, not 2", 1, 10),
    Case("unknown-top-key", "version: 1\nhoks: []\n", "unknown key 'hoks'; did you mean 'hooks'?", 2, 1),
    Case(
        "unknown-top-key-no-match",
        "version: 1\nzzz: 1\n",
        "unknown key 'zzz' (allowed here: admin, delivery, hooks, sources, storage, version)",
        2,
        1,
    ),
    # --- hooks ---------------------------------------------------------------------------------
    Case("unknown-hook-key", HOOK + "    tiemout: 5s\n", "unknown key 'tiemout'; did you mean 'timeout'?", 6, 5),
    Case(
        "missing-url",
        "version: 1\nhooks:\n  - name: a\n    events: [x]\n",
        "missing required key 'url'",
        3,
        5,
    ),
    Case(
        "missing-events",
        "version: 1\nhooks:\n  - name: a\n    url: http://x\n",
        "missing required key 'events'",
        3,
        5,
    ),
    Case(
        "missing-name",
        "version: 1\nhooks:\n  - events: [x]\n    url: http://x\n",
        "missing required key 'name'",
        3,
        5,
    ),
    Case(
        "events-as-string",
        "version: 1\nhooks:\n  - name: a\n    events: order.created\n    url: http://x\n",
        "must be a list, not a string (write [order.created] for a list of one)",
        4,
        13,
    ),
    Case(
        "events-empty",
        "version: 1\nhooks:\n  - name: a\n    events: []\n    url: http://x\n",
        "is empty; list the event types this hook hears, like [order.created], or ['*'] for all",
        4,
        13,
    ),
    Case(
        "glob-with-spaces",
        "version: 1\nhooks:\n  - name: a\n    events: [order.created, ' order.*']\n    url: http://x\n",
        "event glob ' order.*' has surrounding spaces; remove them",
        4,
        29,
    ),
    Case(
        "blank-glob",
        "version: 1\nhooks:\n  - name: a\n    events: [order.created, '  ']\n    url: http://x\n",
        "event glob '  ' is blank; write a type like order.created",
        4,
        29,
    ),
    Case(
        "duplicate-hook-names",
        HOOK + "  - name: a\n    events: [x]\n    url: http://x\n",
        "hook name 'a' is already used on line 3; every hook needs its own name",
        6,
        11,
    ),
    Case(
        "invalid-name",
        "version: 1\nhooks:\n  - name: my hook\n    events: [x]\n    url: http://x\n",
        "'my hook' is not valid: use letters, digits, '-', '_' and '.'",
        3,
        11,
    ),
    Case(
        "bad-method",
        HOOK + "    method: PSOT\n",
        "'PSOT' is not one of: POST, PUT, PATCH, DELETE; did you mean 'POST'?",
        6,
        13,
    ),
    Case(
        "bad-duration",
        HOOK + "    timeout: 30x\n",
        "'30x' is not valid: write a duration with a unit, like 500ms, 30s",
        6,
        14,
    ),
    Case("zero-timeout", HOOK + "    timeout: 0s\n", "timeout must be longer than 0s", 6, 14),
    Case(
        "nan-timeout",
        HOOK + "    timeout: .nan\n",
        "nan is not a duration; give a finite number of seconds",
        6,
        14,
    ),
    Case(
        "retry-initial-over-max",
        HOOK + "    retry:\n      initial_delay: 2h\n      max_delay: 1h\n",
        "initial_delay is longer than max_delay; lower it or raise max_delay",
        7,
        22,
    ),
    Case(
        "retry-max-under-default-initial",
        HOOK + "    retry: {max_delay: 1s}\n",
        "max_delay is shorter than the default initial_delay of 5s",
        6,
        24,
    ),
    Case(
        "max-attempts-zero",
        HOOK + "    retry: {max_attempts: 0}\n",
        "0 is too small; the minimum is 1",
        6,
        27,
    ),
    Case(
        "concurrency-as-string",
        HOOK + '    concurrency: "10"\n',
        "must be a whole number, not a string",
        6,
        18,
    ),
    Case(
        "yes-as-string",
        HOOK + "    description: yes\n",
        "must be a string, not true/false (YAML reads yes/no/on/off as true/false; quote the value)",
        6,
        18,
    ),
    Case(
        "header-value-yes",
        HOOK + "    headers:\n      X-Enabled: on\n",
        "YAML reads yes/no/on/off as true/false",
        7,
        18,
    ),
    # --- urls and headers ------------------------------------------------------------------------
    Case(
        "url-without-scheme",
        "version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: example.com/hooks\n",
        "must start with http:// or https://",
        5,
        10,
    ),
    Case(
        "url-without-host",
        "version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: http:///hooks\n",
        "has no host; write it like https://example.com/webhooks",
        5,
        10,
    ),
    Case(
        "url-with-templated-host",
        "version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: 'http://{{ data.shop }}.x.example/'\n",
        "the host of url is templated, so the hook must list the hosts it may send to: add allow_hosts",
        5,
        10,
    ),
    Case(
        "url-bad-port",
        "version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: http://x:abc/\n",
        "cannot be parsed (Port could not be cast to integer value as 'abc')",
        5,
        10,
    ),
    Case(
        "header-name-invalid",
        HOOK + "    headers:\n      X Request Id: abc\n",
        "'X Request Id' is not a valid HTTP header name; use letters, digits and '-'",
        7,
        7,
    ),
    Case(
        "host-header",
        HOOK + "    headers:\n      Host: example.com\n",
        "Host is set by the HTTP client; remove it from headers",
        7,
        7,
    ),
    Case(
        "header-multiline",
        HOOK + "    headers:\n      X-Note: |\n        one\n        two\n",
        "header values must be on one line",
        7,
        15,
    ),
    # --- expressions and templates ---------------------------------------------------------------
    Case(
        "jmespath-unclosed-string",
        HOOK + '    filter: "data.status == \'paid"\n',
        "JMESPath syntax error at column 16: Unclosed ' delimiter",
        6,
        29,
    ),
    Case(
        "jmespath-incomplete",
        HOOK + '    filter: "data.total >"\n',
        "the expression ends too early",
        6,
        26,
    ),
    Case(
        "jmespath-single-equals",
        HOOK + "    filter: data.status = 'paid'\n",
        "Unknown token '='; compare with == (two equals signs)",
        6,
        25,
    ),
    Case(
        # Plain scalar: the number starts at column 13 + len("data.total > ").
        "bare-number",
        HOOK + "    filter: data.total > 100\n",
        "a bare number like 100 is not a JMESPath literal; write it in backticks: `100`",
        6,
        26,
    ),
    Case(
        # Double-quoted YAML: one more column for the opening quote.
        "bare-number-quoted",
        HOOK + '    filter: "data.total > 100"\n',
        "write it in backticks: `100`",
        6,
        27,
    ),
    Case(
        "double-quoted-draft",
        HOOK + "    filter: 'data.status != \"draft\"'\n",
        "against a field called draft; write 'draft' (single quotes) for the string",
        6,
        29,
    ),
    Case(
        "unknown-function",
        HOOK + "    filter: lenght(data.items) > `2`\n",
        "lenght() is not a JMESPath function; did you mean length()?",
        6,
        13,
    ),
    Case(
        "function-arity",
        HOOK + "    filter: contains(data.tags)\n",
        "contains() takes 2 argument(s), but is given 1",
        6,
        13,
    ),
    Case(
        "template-unclosed",
        HOOK + "    payload:\n      id: '{{ data.id'\n",
        "'{{' is never closed; end the expression with '}}'",
        7,
        11,
    ),
    Case(
        "template-bad-jmespath",
        HOOK + "    payload:\n      id: '{{ data.[ }}'\n",
        "in {{ data.[ }}: JMESPath syntax error",
        7,
        11,
    ),
    Case(
        "template-empty",
        HOOK + "    payload:\n      - ok\n      - '{{ }}'\n",
        "empty '{{ }}'; put a JMESPath expression inside, like {{ data.id }}",
        8,
        9,
    ),
    Case(
        "template-stray-close",
        HOOK + "    headers:\n      X-Id: '{{ data.id }} }}'\n",
        "'}}' without an opening '{{'",
        7,
        13,
    ),
    # --- sources -------------------------------------------------------------------------------
    Case(
        "duplicate-source-names",
        y("""
            version: 1
            sources:
              - {name: app, type: socket, path: a.sock}
              - {name: app, type: socket, path: b.sock}
            """),
        "source name 'app' is already used on line 3; every source needs its own name",
        4,
        12,
    ),
    Case(
        "unknown-source-type",
        "version: 1\nsources:\n  - name: s\n    type: kafka\n",
        "'kafka' is not one of: socket, file",
        4,
        11,
    ),
    Case(
        "socket-without-path-or-listen",
        "version: 1\nsources:\n  - name: s\n    type: socket\n",
        "a socket source needs a path (unix socket) or listen (loopback host:port), or both",
        3,
        5,
    ),
    Case(
        "socket-listen-not-loopback",
        "version: 1\nsources:\n  - name: s\n    type: socket\n    listen: 0.0.0.0:9000\n",
        "'0.0.0.0' is not a loopback address; this listener has no authentication",
        5,
        13,
    ),
    Case(
        "socket-listen-without-port",
        "version: 1\nsources:\n  - name: s\n    type: socket\n    listen: localhost\n",
        "'localhost' is not valid: write host:port, like 127.0.0.1:8780",
        5,
        13,
    ),
    Case(
        "socket-path-too-long",
        "version: 1\nsources:\n  - name: s\n    type: socket\n    path: " + "s" * 110 + ".sock\n",
        "over the 107-byte limit of unix sockets",
        5,
        11,
    ),
    Case(
        "socket-mode-unquoted",
        "version: 1\nsources:\n  - {name: s, type: socket, path: a.sock, mode: 0660}\n",
        "must be a string, not a number; write an octal mode in quotes, like '0660'",
        3,
        49,
    ),
    Case(
        "bad-size",
        "version: 1\nsources:\n  - {name: log, type: file, path: e.jsonl, max_event_size: 10 megabytes}\n",
        "'10 megabytes' is not valid: write a number of bytes, 1 or more, or a size with a unit, like 512KB, 10MB "
        "or 1GiB",
        3,
        60,
    ),
    Case(
        "source-unknown-key",
        "version: 1\nsources:\n  - {name: log, type: file, path: e.jsonl, start: end}\n",
        "unknown key 'start'; did you mean 'start_at'?",
        3,
        44,
    ),
    # --- storage and admin ---------------------------------------------------------------------
    Case(
        "storage-path-is-directory",
        "version: 1\nstorage:\n  path: .\n",
        "is a directory; name the database file, like var/hookd.db",
        3,
        9,
    ),
    Case(
        "admin-public-without-token",
        "version: 1\nadmin:\n  listen: 0.0.0.0:8780\n",
        "'0.0.0.0' is not a loopback address; this listener has no authentication unless admin.token is set",
        3,
        11,
    ),
    Case(
        "admin-port-out-of-range",
        "version: 1\nadmin:\n  listen: 127.0.0.1:99999\n",
        "port 99999 is out of range; use 1-65535",
        3,
        11,
    ),
    Case(
        "admin-token-too-short",
        "version: 1\nadmin:\n  token: ${TOKEN:-short}\n",
        "must be at least 16 characters long",
        3,
        10,
    ),
    # --- ${...} interpolation ---------------------------------------------------------------------
    Case(
        "missing-env-var",
        "version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: ${HOOK_URL}/orders\n",
        "environment variable HOOK_URL is not set; set it, or give a default with ${HOOK_URL:-value}",
        5,
        10,
    ),
    Case(
        "bad-reference",
        "version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: http://${1HOST}/\n",
        "${1HOST} is not a valid reference; write ${VAR}, ${VAR:-default} or ${file:/path}",
        5,
        10,
    ),
    Case(
        "unclosed-reference",
        HOOK + "    description: 'costs ${PRICE'\n",
        "'${' is never closed",
        6,
        18,
    ),
    Case(
        "file-reference-missing",
        HOOK + "    headers:\n      Authorization: ${file:secrets/token}\n",
        "secrets/token' does not exist; create it or fix the path",
        7,
        22,
    ),
    Case(
        "file-reference-empty",
        HOOK + "    headers:\n      Authorization: ${file:}\n",
        "${file:} needs a path, like ${file:/run/secrets/token}",
        7,
        22,
    ),
]


def check(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    return list(check_config(path, env={}).problems)


def test_corpus_is_large_and_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)
    assert len({c.text for c in CASES}) == len(CASES), "two cases hold the same YAML"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_config_is_reported_at_its_place(tmp_path: Path, case: Case) -> None:
    problems = check(tmp_path, case.text)
    matching = [p for p in problems if case.message in p.message]
    listing = "\n".join(str(p) for p in problems)
    assert matching, f"no problem says {case.message!r}; got:\n{listing}"
    p = matching[0]
    assert p.severity == "error", listing
    assert p.file == str(tmp_path / "hookd.yaml")
    assert p.line == case.line, listing
    if case.column is not None:
        assert p.column == case.column, listing
    # One line per problem: the CLI prints file:line:col before it, and GitHub annotations need one line.
    assert "\n" not in p.message, p.message


def test_missing_env_var_names_variable_and_line(tmp_path: Path) -> None:
    text = HOOK + "    headers:\n      Authorization: Bearer ${API_TOKEN}\n"
    problems = check(tmp_path, text)
    assert len(problems) == 1, problems
    p = problems[0]
    assert "API_TOKEN" in p.message
    assert p.path == "hooks[0] (name='a').headers.Authorization"
    assert str(p).startswith(f"{tmp_path / 'hookd.yaml'}:7:22: error: ")


def test_syntax_error_stops_before_schema(tmp_path: Path) -> None:
    problems = check(tmp_path, "version: 2\nhooks: [\n")
    assert len(problems) == 1
    assert problems[0].message.startswith("YAML syntax error")


def test_several_mistakes_are_all_reported_sorted_by_line(tmp_path: Path) -> None:
    text = y("""
        version: 1
        hoks: []
        sources:
          - {name: app, type: socket, listen: 0.0.0.0:9000}
        hooks:
          - name: orders
            events: order.created
            url: ftp://example.com/
            filter: data.total > 100
            method: PSOT
            retry: {max_attempts: 0}
          - name: orders
            events: ["*"]
            url: ${MISSING_URL}
            headers:
              Host: example.com
        admin:
          listen: 0.0.0.0:8780
        """)
    problems = check(tmp_path, text)
    expected = [
        (2, "unknown key 'hoks'"),
        (4, "'0.0.0.0' is not a loopback address"),
        (7, "must be a list, not a string"),
        (8, "must start with http:// or https://"),
        (9, "write it in backticks: `100`"),
        (10, "did you mean 'POST'?"),
        (11, "0 is too small"),
        (12, "hook name 'orders' is already used on line 6"),
        (14, "environment variable MISSING_URL is not set"),
        (16, "Host is set by the HTTP client"),
        (18, "unless admin.token is set"),
    ]
    got = [(p.line, p.message) for p in problems]
    assert len(problems) == len(expected), "\n".join(map(str, problems))
    for (line, fragment), (got_line, message) in zip(expected, got, strict=True):
        assert got_line == line and fragment in message, (line, fragment, got_line, message)
    assert [(p.line, p.column) for p in problems] == sorted((p.line, p.column) for p in problems)
    assert all(p.severity == "error" for p in problems)


def test_unresolved_variable_is_not_reported_twice(tmp_path: Path) -> None:
    # The URL is missing its variable; the URL check must not add "must start with http://".
    text = "version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: ${HOOK_URL}\n"
    problems = check(tmp_path, text)
    assert [p.message for p in problems] == [
        "environment variable HOOK_URL is not set; set it, or give a default with ${HOOK_URL:-value}"
    ]


def test_warning_alone_keeps_the_config_valid(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text("version: 1\nadmin:\n  token: 0123456789abcdef0123\n", encoding="utf-8")
    result = check_config(path, env={})
    assert result.settings is not None
    assert result.errors == ()
    [warning] = result.problems
    assert warning.severity == "warning"
    assert (warning.line, warning.column) == (3, 10)
    assert "the token is written in the file itself" in warning.message
    assert "0123456789abcdef0123" not in warning.message


def test_an_empty_glob_is_one_problem_and_a_repeated_one_a_warning(tmp_path: Path) -> None:
    problems = check(tmp_path, "version: 1\nhooks:\n  - name: a\n    events: ['', a.b, a.b]\n    url: http://x\n")
    assert [(p.severity, p.path, p.message) for p in problems] == [
        (
            "error",
            "hooks[0] (name='a').events[0]",
            "must not be empty; write an event type or glob, like order.created or order.*, or remove the item",
        ),
        ("warning", "hooks[0] (name='a').events[2]", "event glob 'a.b' is already listed on line 4"),
    ]


def test_a_path_that_cannot_be_looked_at_is_a_warning(tmp_path: Path) -> None:
    """is_dir() raises rather than answers for some paths (a directory this user may not enter: the
    daemon may run as another user). A name too long for the file system does the same, as root too."""
    long = "x" * 300
    problems = check(
        tmp_path,
        f"version: 1\nstorage:\n  path: {long}/hookd.db\nsources:\n  - {{name: f, type: file, path: {long}/e.jsonl}}\n",
    )
    looked = [p for p in problems if "cannot look at" in p.message]
    assert [(p.severity, p.line, p.path) for p in looked] == [
        ("warning", 3, "storage.path"),
        ("warning", 5, "sources[0] (name='f').path"),
    ]
    assert all("File name too long; make sure the user hookd runs as can reach it" in p.message for p in looked)


def test_unreadable_inputs(tmp_path: Path) -> None:
    missing = check_config(tmp_path / "nope.yaml", env={})
    assert not missing.readable
    assert "does not exist; pass -c PATH or set HOOKD_CONFIG" in missing.problems[0].message
    assert missing.problems[0].line == 0

    directory = check_config(tmp_path, env={})
    assert not directory.readable
    assert "is a directory; pass the config file itself" in directory.problems[0].message

    binary = tmp_path / "latin1.yaml"
    binary.write_bytes(b"version: 1\n# caf\xe9\n")
    latin1 = check_config(binary, env={})
    assert latin1.readable
    [problem] = latin1.problems
    assert "the file is not UTF-8 text (byte 0xe9 here); save it as UTF-8" in problem.message
    assert (problem.line, problem.column) == (2, 6)
