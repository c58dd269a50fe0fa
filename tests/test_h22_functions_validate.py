"""`hookd validate` knows hookd's template functions (an unknown name gets did-you-mean over JMESPath's
and hookd's functions, a wrong argument count names the arity, both at the expression's place), and
`hookd test` evaluates filters, templates, url and ordering_key with them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hookd.cli.app import app
from hookd.config.load import check_config

HOOK = """\
version: 1
hooks:
  - name: shop
    events: ["order.*"]
    url: https://shop.example/orders
"""


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[tuple[int, int | None, str, str]]:
    path = tmp_path / "hookd.yaml"
    path.write_text(text)
    return [(p.line, p.column, p.severity, p.message) for p in check_config(path, env=env or {}).problems]


@pytest.mark.parametrize(
    ("line", "message", "column"),
    [
        ("    filter: \"formt_number(data.total, '.2f') == '1.00'\"\n", "formt_number() is not a JMESPath function; "
         "did you mean format_number()?", 14),
        ("    filter: \"lower(data.a) == upr(data.b)\"\n", "upr() is not a JMESPath function; did you mean upper()?",
         31),
        ("    filter: \"to_jsno(data) == ''\"\n", "to_jsno() is not a JMESPath function; did you mean to_json()?", 14),
        ("    filter: \"explode(data) == ''\"\n", "explode() is not a JMESPath function; see jmespath.org for "
         "the built-in functions, and hookd adds default(), format_number(), format_time(), from_json(), lower(), "
         "to_json(), truncate(), upper(), url_encode()", 14),
        ("    filter: \"format_time(time) == ''\"\n", "format_time() takes 2 or 3 arguments, but is given 1", 14),
        ("    filter: \"format_number(data.total) == ''\"\n", "format_number() takes 2 argument(s), but is given 1",
         14),
        ("    filter: \"default(data.a) == ''\"\n", "default() takes 2 argument(s), but is given 1", 14),
        ("    ordering_key: \"upper(data.a, data.b)\"\n", "upper() takes 1 argument(s), but is given 2", 20),
        ("    filter: \"contains(data.tags)\"\n", "contains() takes 2 argument(s), but is given 1", 14),
    ],
)  # fmt: skip
def test_expression_function_mistakes_are_errors_at_their_place(
    tmp_path: Path, line: str, message: str, column: int
) -> None:
    found = problems(tmp_path, HOOK + line)
    assert (6, column, "error", message) in found, found


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{total: \"{{ format_numbr(data.total, ',.2f') }}\"}", "in {{ format_numbr(data.total, ',.2f') }}: "
         "format_numbr() is not a JMESPath function; did you mean format_number()?"),
        ("{when: \"{{ format_time(time, '%Y', 'UTC', 'x') }}\"}", "format_time() takes 2 or 3 arguments, but is "
         "given 4"),
        ("{n: \"{{ url_encode() }}\"}", "url_encode() takes 1 argument(s), but is given 0"),
    ],
)  # fmt: skip
def test_template_function_mistakes_are_errors(tmp_path: Path, payload: str, message: str) -> None:
    found = problems(tmp_path, HOOK + f"    payload: {payload}\n")
    assert [(p[0], p[2]) for p in found if message in p[3]] == [(6, "error")], found


def test_every_function_used_correctly_validates(tmp_path: Path) -> None:
    text = (
        HOOK.replace("url: https://shop.example/orders", 'url: "https://shop.example/orders/{{ data.sku }}"')
        + "    filter: \"lower(data.status) == 'paid' && from_json(data.meta).vip\"\n"
        '    ordering_key: "upper(data.customer)"\n'
        "    payload:\n"
        "      total: \"{{ format_number(data.total, ',.2f') }}\"\n"
        "      when: \"{{ format_time(time, '%d.%m.%Y %H:%M', 'Europe/Berlin') }}\"\n"
        "      day: \"{{ format_time(time, '%Y-%m-%d') }}\"\n"
        "      note: \"{{ default(data.note, 'none') }}\"\n"
        '      items: "{{ to_json(data.items) }}"\n'
        '      link: "https://shop.example/search?q={{ url_encode(data.sku) }}"\n'
    )
    assert problems(tmp_path, text) == []
    (tmp_path / "event.json").write_text(
        json.dumps(
            {
                "type": "order.paid",
                "time": "2024-12-31T23:30:00Z",
                "data": {"status": "PAID", "sku": "a/b c", "meta": '{"vip": true}', "customer": "acme",
                         "total": 1234.5, "items": [{"n": 1}], "note": None},
            }
        )
    )  # fmt: skip
    result = CliRunner().invoke(
        app, ["test", "-c", str(tmp_path / "hookd.yaml"), str(tmp_path / "event.json"), "--json"]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)["events"][0]["hooks"][0]
    assert shown["matched"] is True
    assert shown["ordering_key"] == "ACME"
    # The url template percent-encodes each value itself (no url_encode needed there).
    assert shown["request"]["url"] == "https://shop.example/orders/a%2Fb%20c"
    assert shown["request"]["body"] == {
        "total": "1,234.50",
        "when": "01.01.2025 00:30",
        "day": "2024-12-31",
        "note": "none",
        "items": '[{"n":1}]',
        "link": "https://shop.example/search?q=a%2Fb%20c",
    }


def test_hookd_test_reports_a_function_error_as_the_template_failing(tmp_path: Path) -> None:
    (tmp_path / "hookd.yaml").write_text(HOOK + "    payload: {total: \"{{ format_number(data.total, '.2f') }}\"}\n")
    (tmp_path / "event.json").write_text('{"type": "order.paid", "data": {"total": "12"}}')
    result = CliRunner().invoke(
        app, ["test", "-c", str(tmp_path / "hookd.yaml"), str(tmp_path / "event.json"), "--json"]
    )
    assert "Traceback" not in result.output
    shown = json.loads(result.output)["events"][0]["hooks"][0]
    assert shown["error"] == (
        "cannot render the request: payload.total: {{ format_number(data.total, '.2f') }} could not be evaluated "
        "on this event: In function format_number(), invalid type for value: 12, expected one of: ['number'], "
        'received: "string"'
    )


def test_url_encode_in_a_url_template_is_a_warning(tmp_path: Path) -> None:
    text = HOOK.replace(
        "url: https://shop.example/orders",
        'url: "https://shop.example/orders/{{ url_encode(data.sku) }}?x={{ data.x }}"',
    )
    assert problems(tmp_path, text) == [
        (
            5,
            10,
            "warning",
            "{{ url_encode(data.sku) }} calls url_encode(), but hookd percent-encodes each {{ expr }} of a url "
            "already, so the value would be encoded twice (a space as %2520); leave url_encode() out",
        )
    ]
