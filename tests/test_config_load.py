"""Valid configs load into frozen records; ${...} interpolation; secrets stay out of messages;
units, JMESPath truthiness and templates."""

from __future__ import annotations

import dataclasses
import hashlib
import textwrap
from pathlib import Path

import pytest

from hookd.config.load import check_config, load_config
from hookd.config.model import (
    AdminConfig,
    DeliveryConfig,
    FileSourceConfig,
    HookConfig,
    Origin,
    RetryPolicy,
    Settings,
    SocketSourceConfig,
    StorageConfig,
)
from hookd.errors import ConfigError
from hookd.expressions import ExpressionError, compile_expression, is_truthy
from hookd.templates import TemplateError, compile_template
from hookd.units import Rate, format_duration, format_size, parse_duration, parse_rate, parse_size

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(REPO.glob("examples/*/hookd.yaml"))


def write(directory: Path, text: str, name: str = "hookd.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# --- valid configs -----------------------------------------------------------------------------


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\n")
    settings = load_config(path, env={})
    assert settings == Settings(
        config_path=path,
        config_sha256=hashlib.sha256(b"version: 1\n").hexdigest(),
        version=1,
        storage=StorageConfig(path=tmp_path / "var" / "hookd.db", retention_s=90 * 86400.0, synchronous="normal"),
        sources=(),
        hooks=(),
        delivery=DeliveryConfig(concurrency=100, shutdown_timeout_s=30.0),
        admin=AdminConfig(listen=("127.0.0.1", 8780), token=None),
    )


def test_full_config_loads_into_frozen_records(tmp_path: Path) -> None:
    conf_dir = tmp_path / "etc" / "hookd"
    path = write(
        conf_dir,
        """
        version: 1
        storage:
          path: data/events.db
          retention: 1w
          synchronous: full
        sources:
          - name: app
            type: socket
            path: run/app.sock
            mode: "0640"
            listen: "[::1]:8790"
            max_event_size: 512KiB
          - name: log
            type: file
            path: /var/log/app/events.jsonl
            start_at: beginning
            max_event_size: 2048
        hooks:
          - name: orders
            description: Big orders.
            events: ["order.*", payment.received]
            filter: "data.total > `100`"
            url: https://example.com/hooks
            method: PUT
            headers: {X-Event: "{{ type }}"}
            payload: {id: "{{ data.id }}", fixed: 3}
            retry: {max_attempts: 3, backoff: fixed, initial_delay: 500ms, max_delay: 1h30m, jitter: false}
            timeout: 2.5
            concurrency: 4
            follow_redirects: true
          - name: all
            events: ["*"]
            url: http://127.0.0.1:8781/
        delivery:
          concurrency: 64
          shutdown_timeout: 1m
        admin:
          listen: localhost:0
        """,
    )
    settings = load_config(path, env={})
    file = str(path)
    assert settings.storage == StorageConfig(
        path=conf_dir / "data" / "events.db", retention_s=604800.0, synchronous="full"
    )
    assert settings.sources == (
        SocketSourceConfig(
            name="app",
            path=conf_dir / "run" / "app.sock",
            mode=0o640,
            listen=("::1", 8790),
            max_event_bytes=512 * 1024,
        ),
        FileSourceConfig(
            name="log",
            path=Path("/var/log/app/events.jsonl"),
            start_at="beginning",
            max_event_bytes=2048,
        ),
    )
    orders, everything = settings.hooks
    assert orders == HookConfig(
        name="orders",
        description="Big orders.",
        events=("order.*", "payment.received"),
        filter="data.total > `100`",
        url="https://example.com/hooks",
        method="PUT",
        headers={"X-Event": "{{ type }}"},  # type: ignore[arg-type]  # a mappingproxy compares like its dict
        payload={"id": "{{ data.id }}", "fixed": 3},
        retry=RetryPolicy(max_attempts=3, backoff="fixed", initial_delay_s=0.5, max_delay_s=5400.0, jitter=False),
        timeout_s=2.5,
        concurrency=4,
        follow_redirects=True,
    )
    assert everything == HookConfig(name="all", events=("*",), url="http://127.0.0.1:8781/")
    assert everything.retry == RetryPolicy()
    assert settings.delivery == DeliveryConfig(concurrency=64, shutdown_timeout_s=60.0)
    assert settings.admin == AdminConfig(listen=("localhost", 0), enabled=True)
    assert settings.hook("all") is everything
    assert settings.hook("nope") is None
    # Origins point at the list item, for messages at run time.
    assert orders.origin == Origin(file, 19, 5)
    assert everything.origin == Origin(file, 31, 5)
    assert settings.sources[1].origin == Origin(file, 13, 5)
    # Frozen all the way down.
    with pytest.raises(dataclasses.FrozenInstanceError):
        orders.url = "http://evil/"  # type: ignore[misc]
    with pytest.raises(TypeError):
        orders.headers["X-New"] = "1"  # type: ignore[index]
    assert isinstance(orders.events, tuple)


def test_relative_paths_resolve_against_the_config_directory_not_the_cwd(tmp_path: Path) -> None:
    path = write(
        tmp_path / "conf",
        """
        version: 1
        storage: {path: ../state/hookd.db}
        sources:
          - {name: s, type: socket, path: hookd.sock}
          - {name: f, type: file, path: logs/e.jsonl}
        """,
    )
    settings = load_config(path, env={})
    conf = (tmp_path / "conf").absolute()
    assert settings.storage.path == conf / ".." / "state" / "hookd.db"
    assert settings.sources[0].path == conf / "hookd.sock"
    assert settings.sources[1].path == conf / "logs" / "e.jsonl"
    assert all(s.path is not None and s.path.is_absolute() for s in settings.sources)


def test_numbers_in_seconds_and_bytes_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        storage: {retention: 3600}
        sources: [{name: f, type: file, path: e.jsonl, max_event_size: 1000}]
        delivery: {shutdown_timeout: 0.25}
        """,
    )
    settings = load_config(path, env={})
    assert settings.storage.retention_s == 3600.0
    assert settings.sources[0].max_event_bytes == 1000
    assert settings.delivery.shutdown_timeout_s == 0.25


def test_whole_numbers_written_as_floats_become_ints(tmp_path: Path) -> None:
    # JSON Schema counts 5.0 as an integer; the records must still hold an int.
    path = write(
        tmp_path,
        """
        version: 1
        hooks: [{name: a, events: [x], url: "http://x", concurrency: 4.0, retry: {max_attempts: 5.0}}]
        delivery: {concurrency: 8.0}
        """,
    )
    settings = load_config(path, env={})
    hook = settings.hooks[0]
    assert (hook.concurrency, hook.retry.max_attempts, settings.delivery.concurrency) == (4, 5, 8)
    assert all(type(n) is int for n in (hook.concurrency, hook.retry.max_attempts, settings.delivery.concurrency))


def test_merge_keys_let_written_keys_override(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        hooks:
          - &base {name: a, events: [x], url: "http://x", timeout: 5s}
          - <<: *base
            name: b
            timeout: 10s
        """,
    )
    a, b = load_config(path, env={}).hooks
    assert (a.name, a.timeout_s) == ("a", 5.0)
    assert (b.name, b.timeout_s, b.url) == ("b", 10.0, "http://x")


def test_load_config_raises_with_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 2\nhoks: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert [p.line for p in info.value.problems] == [1, 2]
    assert str(info.value) == f"{path}:1:10: error: version: must be 1, not 2 (and 1 more)"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_bundled_example_is_valid(example: Path) -> None:
    result = check_config(example, env={})
    # An example that receives webhooks says its verify secret is the file's default until it is set.
    problems = [p for p in result.problems if "is the default written in the config file" not in p.message]
    assert problems == [], "\n".join(map(str, result.problems))
    assert result.settings is not None
    assert result.settings.hooks


def test_there_are_bundled_examples() -> None:
    assert {p.parent.name for p in EXAMPLES} >= {"quickstart", "shop"}


# --- ${...} interpolation ----------------------------------------------------------------------

HOOK = """\
version: 1
hooks:
  - name: a
    events: [x]
"""


def test_env_references_and_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HOOK
        + """\
    url: ${BASE:-http://127.0.0.1:8781}/orders
    description: "${WHO}, ${EMPTY:-fallback}, [${EMPTY}], ${UNSET:-}, cost $${PRICE}"
    headers: {X-Token: "Bearer ${TOKEN}"}
""",
    )
    env = {"WHO": "shop", "EMPTY": "", "TOKEN": "abc"}
    hook = load_config(path, env=env).hooks[0]
    assert hook.url == "http://127.0.0.1:8781/orders"
    assert hook.description == "shop, fallback, [], , cost ${PRICE}"
    assert hook.headers["X-Token"] == "Bearer abc"
    hook = load_config(path, env={**env, "BASE": "https://hooks.example"}).hooks[0]
    assert hook.url == "https://hooks.example/orders"


def test_explicit_env_mapping_replaces_the_process_environment(tmp_path: Path) -> None:
    # PATH is set in every test process; an explicit env= must not see it.
    path = write(tmp_path, HOOK + "    url: http://x/${PATH}\n")
    result = check_config(path, env={})
    assert [p.message for p in result.problems] == [
        "environment variable PATH is not set; set it, or give a default with ${PATH:-value}"
    ]


def test_file_reference_relative_to_config_dir_strips_trailing_newline(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "secrets").mkdir(parents=True)
    (conf / "secrets" / "token").write_text("t0k3n-from-file\n", encoding="utf-8")
    (tmp_path / "abs-token").write_text("absolute\r\n", encoding="utf-8")
    path = write(
        conf,
        HOOK
        + f"""\
    url: http://x
    headers:
      Authorization: "Bearer ${{file:secrets/token}}"
      X-Abs: ${{file:{tmp_path / "abs-token"}}}
""",
    )
    hook = load_config(path, env={}).hooks[0]
    assert dict(hook.headers) == {"Authorization": "Bearer t0k3n-from-file", "X-Abs": "absolute"}


def test_unquoted_reference_in_integer_field_becomes_an_int(tmp_path: Path) -> None:
    # Block style: in a flow mapping ({...}) YAML would take the `{` of an unquoted ${N} as syntax.
    path = write(
        tmp_path, HOOK + "    url: http://x\n    concurrency: ${N}\n    retry:\n      max_attempts: ${TRIES:-3}\n"
    )
    hook = load_config(path, env={"N": "7"}).hooks[0]
    assert hook.concurrency == 7 and type(hook.concurrency) is int
    assert hook.retry.max_attempts == 3


def test_quoted_reference_stays_a_string(tmp_path: Path) -> None:
    path = write(tmp_path, HOOK + '    url: http://x\n    concurrency: "${N}"\n')
    [problem] = check_config(path, env={"N": "7"}).errors
    assert problem.message == "must be a whole number, not a string"
    assert (problem.line, problem.column) == (6, 18)


def test_unquoted_reference_with_yaml_special_value_is_typed_like_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, HOOK + "    url: http://x\n    follow_redirects: ${FOLLOW}\n")
    assert load_config(path, env={"FOLLOW": "true"}).hooks[0].follow_redirects is True


def test_reference_inside_a_template_expression(tmp_path: Path) -> None:
    path = write(tmp_path, HOOK + "    url: http://x\n    payload: {total: '{{ data.${FIELD} }}', note: 'a $${b}'}\n")
    hook = load_config(path, env={"FIELD": "total"}).hooks[0]
    assert hook.payload == {"total": "{{ data.total }}", "note": "a ${b}"}
    assert compile_template(hook.payload).render({"data": {"total": 5}}) == {"total": 5, "note": "a ${b}"}


SECRET = "s3cr3t-Xy9-do-not-print"
EV = "    events: [x]\n"

# (id, YAML after `hooks: - name: a`, env, files beside the config, expected message fragment)
LEAKS = [
    (
        "url-bad-scheme",
        EV + "    url: ${URL}\n",
        {"URL": f"ftp://{SECRET}@host/"},
        {},
        "${URL} must start with http://",
    ),
    ("url-bad-port", EV + "    url: ${URL}\n", {"URL": f"http://host:{SECRET}/"}, {}, "${URL} cannot be parsed;"),
    ("url-no-host", EV + "    url: https://${CRED}@/x\n", {"CRED": SECRET}, {}, "has no host"),
    (
        "url-from-file",
        EV + "    url: ${file:u.txt}\n",
        {},
        {"u.txt": f"gopher://{SECRET}\n"},
        "${file:u.txt} must start",
    ),
    ("method-plain", EV + "    url: http://x\n    method: ${M}\n", {"M": SECRET}, {}, "${M} is not one of: POST, PUT"),
    ("method-quoted", EV + "    url: http://x\n    method: '${M}'\n", {"M": SECRET}, {}, "${M} is not one of"),
    (
        "timeout",
        EV + "    url: http://x\n    timeout: ${T}\n",
        {"T": SECRET},
        {},
        "${T} is not valid: write a duration",
    ),
    ("events", "    url: http://x\n    events: ${E}\n", {"E": SECRET}, {}, "(write [${E}] for a list of one)"),
    (
        "filter",
        EV + "    url: http://x\n    filter: ${F}\n",
        {"F": f"{SECRET} > 5"},
        {},
        "'${F}' is not a valid JMESPath",
    ),
    (
        "filter-double-quotes",
        EV + "    url: http://x\n    filter: ${F}\n",
        {"F": f'{SECRET.replace("-", "_")} == "x"'},
        {},
        'compares with a "double-quoted" name',
    ),
    (
        "header-template",
        EV + "    url: http://x\n    headers: {Authorization: 'Bearer ${T}'}\n",
        {"T": "{{ " + SECRET + " }}"},
        {},
        "the value substituted into 'Bearer ${T}' contains '{{' or '}}'",
    ),
    (
        "header-newline",
        EV + "    url: http://x\n    headers: {Authorization: 'Bearer ${T}'}\n",
        {"T": SECRET + "\nX-Injected: 1"},
        {},
        "header values must be on one line",
    ),
    (
        "payload-template-from-file",
        EV + "    url: http://x\n    payload: {key: '${file:k}'}\n",
        {},
        {"k": SECRET + " }}"},
        "contains '{{' or '}}'",
    ),
    (
        "template-expression",
        EV + "    url: http://x\n    payload: {v: '{{ data.${F} }}'}\n",
        {"F": SECRET.replace("-", " ")},
        {},
        "the value substituted into '{{ data.${F} }}' makes its template invalid",
    ),
    (
        "duplicate-name",
        EV + "    url: http://x\n  - {name: '${N}', events: [x], url: 'http://x'}\n"
        "  - {name: '${N}', events: [x], url: 'http://x'}\n",
        {"N": SECRET.replace("-", "")},
        {},
        "hook name ${N} is already used on line 6",
    ),
    ("admin-token", EV + "    url: http://x\nadmin: {token: '${T}'}\n", {"T": "short"}, {}, "at least 16 characters"),
    (
        "name-pattern",
        EV + "    url: http://x\n  - {name: '${N}', events: [x], url: 'http://x'}\n",
        {"N": SECRET + " !"},
        {},
        "${N} is not valid: use letters",
    ),
]


@pytest.mark.parametrize(("tail", "env", "files", "fragment"), [c[1:] for c in LEAKS], ids=[c[0] for c in LEAKS])
def test_secret_values_never_appear_in_messages(
    tmp_path: Path, tail: str, env: dict[str, str], files: dict[str, str], fragment: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    path = write(tmp_path, "version: 1\nhooks:\n  - name: a\n" + tail)
    result = check_config(path, env=env)
    listing = "\n".join(map(str, result.problems))
    assert result.errors, "the config should be invalid"
    assert any(fragment in p.message for p in result.problems), listing
    assert "s3cr3t" not in listing  # every secret below holds it, whatever its punctuation
    for value in [*env.values(), *files.values()]:
        assert value.strip() not in listing


# --- units -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("90d", 90 * 86400.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        (" 10s ", 10.0),
        (0, 0.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        ("30x", ValueError, "'30x' is not a duration; write a number with a unit, like 500ms"),
        ("30", ValueError, "is not a duration"),
        ("", ValueError, "is not a duration"),
        ("s", ValueError, "is not a duration"),
        ("-5s", ValueError, "is not a duration"),
        (-1, ValueError, "-1 is negative; a duration must be 0 or more"),
        (True, ValueError, "True is not a duration"),
        (float("inf"), ValueError, "give a finite number of seconds"),
        (float("nan"), ValueError, "give a finite number of seconds"),
        ([1], TypeError, "list is not a duration"),
    ],
)
def test_parse_duration_errors(value: object, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        parse_duration(value)  # type: ignore[arg-type]
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10MB", 10_000_000),
        ("512KB", 512_000),
        ("512KiB", 524_288),
        ("1GiB", 1024**3),
        ("1gb", 10**9),
        ("1.5MB", 1_500_000),
        ("100 B", 100),
        ("7b", 7),
        (4096, 4096),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("size", "text"),
    [(10_000_000, "10MB"), (524_288, "512KiB"), (1024**3, "1GiB"), (2000, "2KB"), (1500, "1500B"), (0, "0B")],
)
def test_format_size_is_exact_and_reads_back(size: int, text: str) -> None:
    assert format_size(size) == text
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        ("10 megabytes", ValueError, "'10 megabytes' is not a size; write a number with a unit, like 512KB"),
        ("10M", ValueError, "is not a size"),
        ("MB", ValueError, "is not a size"),
        (-1, ValueError, "-1 is negative"),
        (False, ValueError, "False is not a size"),
        (1.5, TypeError, "float is not a size"),
    ],
)
def test_parse_size_errors(value: object, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        parse_size(value)  # type: ignore[arg-type]
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "per_s"),
    [("5/s", 5.0), ("100/min", 100 / 60), ("2000/hour", 2000 / 3600), ("1/sec", 1.0), ("3 / m", 0.05), (4, 4.0)],
)
def test_parse_rate(text: str | float, per_s: float) -> None:
    rate = parse_rate(text)
    assert rate.per_s == pytest.approx(per_s)
    assert isinstance(rate, Rate)


def test_rate_keeps_its_text() -> None:
    assert str(parse_rate(" 100/min ")) == "100/min"
    assert str(parse_rate(5)) == "5/s"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("100/fortnight", "'100/fortnight' is not a rate; write a count per unit, like 5/s, 100/min or 2000/hour"),
        ("100", "is not a rate"),
        ("0/s", "'0/s' would never send anything; give a count above 0"),
        (0, "0 is not a positive rate"),
        (-3, "is not a positive rate"),
        (True, "True is not a rate"),
    ],
)
def test_parse_rate_errors(value: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_rate(value)  # type: ignore[arg-type]
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250ms"),
        (30, "30s"),
        (300, "5m"),
        (7200, "2h"),
        (259200, "3d"),
        (150, "2.5m"),
        (8.01303, "8s"),
        (1.5, "1.5s"),
        (259208, "3.0d"),
        (90000.5, "25.0h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# --- JMESPath ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (0, True),
        (0.0, True),
        (-1, True),
        (True, True),
        ("0", True),
        (" ", True),
        ([0], True),
        ({"a": None}, True),
        (False, False),
        (None, False),
        ("", False),
        ([], False),
        ({}, False),
    ],
)
def test_is_truthy_follows_jmespath(value: object, truthy: bool) -> None:
    assert is_truthy(value) is truthy


def test_is_truthy_agrees_with_jmespath_itself() -> None:
    # JMESPath's own `||` returns its left side exactly when the left side is truthy.
    for value in (0, 0.0, "", "x", [], [1], {}, {"a": 1}, None, False, True):
        result = compile_expression('v || `"fallback"`').search({"v": value})
        assert (result != "fallback") is is_truthy(value), value


def test_compile_expression_error_points_at_the_column() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("data.total > 100")
    assert info.value.problem.offset == 13
    assert "write it in backticks: `100`" in info.value.problem.message


# --- templates ---------------------------------------------------------------------------------

EVENT = {
    "id": "evt_1",
    "type": "order.created",
    "data": {"id": 42, "items": [{"sku": "a"}], "paid": True, "note": None, "customer": {"name": "Ann"}},
}


def test_lone_expression_keeps_the_json_type() -> None:
    template = compile_template(
        {
            "items": "{{ data.items }}",
            "id": "{{ data.id }}",
            "paid": "{{ data.paid }}",
            "missing": "{{ data.nope }}",
            "spaced": "{{data.id}}",
            "nested": ["{{ data.customer }}", 1, None],
        }
    )
    assert template.render(EVENT) == {
        "items": [{"sku": "a"}],
        "id": 42,
        "paid": True,
        "missing": None,
        "spaced": 42,
        "nested": [{"name": "Ann"}, 1, None],
    }


def test_mixed_text_renders_strings_json_and_null_as_empty() -> None:
    template = compile_template(
        "Order {{ data.id }} for {{ data.customer.name }}: {{ data.items }} paid={{ data.paid }} note=[{{ data.note }}]"
    )
    assert template.render(EVENT) == 'Order 42 for Ann: [{"sku":"a"}] paid=true note=[]'


def test_text_around_a_single_expression_makes_a_string() -> None:
    assert compile_template(" {{ data.id }}").render(EVENT) == " 42"
    assert compile_template("{{ data.id }}{{ data.id }}").render(EVENT) == "4242"


def test_render_text_and_constants() -> None:
    template = compile_template({"a": "{{ data.items }}", "b": "plain", "c": 1.5})
    assert template.render_text(EVENT) == '{"a":[{"sku":"a"}],"b":"plain","c":1.5}'
    assert compile_template("{{ data.note }}").render_text(EVENT) == ""


def test_compile_template_lists_every_problem() -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"a": "{{ data.id", "b": ["{{ }}", "{{ a > 1 }}"]})
    assert [(p.path, p.message.split(";")[0]) for p in info.value.problems] == [
        (("a",), "'{{' is never closed"),
        (("b", 0), "empty '{{ }}'"),
        (
            ("b", 1),
            "in {{ a > 1 }}: JMESPath syntax error at column 5 (invalid token): "
            "a bare number like 1 is not a JMESPath literal",
        ),
    ]
