"""Values arrive exactly as sent, or are refused with a reason: the parser, the JSON module and the
steps after intake (templates, rendering, hookd test, the send client), without a daemon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hookd import jsonvalue
from hookd.client import InputError, event_line, stdin_lines
from hookd.errors import EventError
from hookd.events import parse_event_line
from hookd.jsonvalue import MAX_DEPTH, JsonValueError
from hookd.templates import RenderError, compile_template

MAX = 1 << 20
BIG = "1234567890123456789012345678901"


def nested(depth: int, inner: str = "") -> bytes:
    """An event `depth` levels deep, counting the event object: data holds depth-1 arrays."""
    return ('{"type":"a","data":' + "[" * (depth - 1) + inner + "]" * (depth - 1) + "}").encode()


def rejection(line: bytes) -> str:
    with pytest.raises(EventError) as caught:
        parse_event_line(line, max_bytes=MAX)
    return str(caught.value)


# -- nesting ------------------------------------------------------------------------------------------


def test_the_deepest_event_within_the_limit_is_accepted_and_written_back() -> None:
    event = parse_event_line(nested(MAX_DEPTH), max_bytes=MAX)
    assert event.body.count(b"[") == MAX_DEPTH - 1


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 254, 300, 1023, 1025, 5000])
def test_an_event_nested_past_the_limit_is_refused_naming_the_limit(depth: int) -> None:
    reason = rejection(nested(depth))
    assert f"nested more than {MAX_DEPTH} levels deep" in reason
    assert f"nesting limit of {MAX_DEPTH}" in reason


def test_depth_is_also_checked_on_the_exact_path_for_big_integers() -> None:
    reason = rejection(nested(MAX_DEPTH + 1, BIG))
    assert f"nested more than {MAX_DEPTH} levels deep" in reason
    assert parse_event_line(nested(MAX_DEPTH, BIG), max_bytes=MAX).body.endswith(BIG.encode() + b"]" * 63 + b"}")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    line = b'{"type":"a","data":"' + b"[" * 500 + b'"}'
    assert parse_event_line(line, max_bytes=MAX).envelope["data"] == "[" * 500


def test_nested_deeper_than_is_not_recursive() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert jsonvalue.nested_deeper_than(deep, 64)
    assert not jsonvalue.nested_deeper_than([[[]]], 3)
    assert jsonvalue.nested_deeper_than([[[]]], 2)
    assert not jsonvalue.nested_deeper_than("scalar", 0)


def test_writing_a_value_past_what_json_writers_take_is_an_error_not_a_crash() -> None:
    deep: object = 1
    for _ in range(300):
        deep = {"a": deep}
    with pytest.raises(JsonValueError, match="nested more than 254 levels"):
        jsonvalue.dumps(deep)


def test_a_template_rendering_past_the_writable_depth_is_a_value_error() -> None:
    """A template (config) nested deep around event data: the render is refused with a reason,
    which callers report as a render error of that delivery."""
    source: object = "{{ data }}"
    for _ in range(250):
        source = {"k": source}
    template = compile_template(source)
    event = parse_event_line(nested(MAX_DEPTH), max_bytes=MAX)
    with pytest.raises(RenderError, match=r"cannot be written|nested more than"):
        template.render_text(event.envelope)


# -- numbers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    [BIG, "18446744073709551616", "18446744073709551615", "-9223372036854775809", "-" + BIG, "1" + "0" * 400],
)
def test_integers_of_any_size_are_kept_exactly(literal: str) -> None:
    event = parse_event_line(f'{{"type":"a","data":{{"n":{literal}}}}}'.encode(), max_bytes=MAX)
    assert event.envelope["data"] == {"n": int(literal)}
    assert f'"data":{{"n":{literal}}}'.encode() in event.body


def test_a_big_integer_survives_a_template_and_a_text_template() -> None:
    event = parse_event_line(f'{{"type":"a","data":{{"n":{BIG}}}}}'.encode(), max_bytes=MAX)
    template = compile_template({"n": "{{ data.n }}", "text": "n={{ data.n }}", "all": "{{ data }}"})
    rendered = template.render(event.envelope)
    assert jsonvalue.dumps(rendered) == f'{{"n":{BIG},"text":"n={BIG}","all":{{"n":{BIG}}}}}'.encode()


def test_a_stored_body_reads_back_exactly() -> None:
    event = parse_event_line(f'{{"type":"a","data":[{BIG},1.5,-{BIG}]}}'.encode(), max_bytes=MAX)
    assert jsonvalue.loads(event.body) == event.envelope
    assert jsonvalue.dumps(jsonvalue.loads(event.body)) == event.body


def test_digits_in_a_string_do_not_change_the_value() -> None:
    event = parse_event_line(f'{{"type":"a","data":{{"s":"{BIG}","n":1}}}}'.encode(), max_bytes=MAX)
    assert event.envelope["data"] == {"s": BIG, "n": 1}


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1.7976931348623159e308", "1E+999"])
def test_a_number_that_overflows_a_double_is_refused_naming_the_field(literal: str) -> None:
    reason = rejection(f'{{"type":"a","data":{{"amount":{literal}}}}}'.encode())
    assert reason.startswith(f"data.amount is {literal}, which overflows a 64-bit float")


def test_an_overflow_deep_inside_is_named_by_its_path() -> None:
    reason = rejection(b'{"type":"a","data":{"items":[{"price":1},{"price":2e999}],"a b":1}}')
    assert reason.startswith("data.items[1].price is 2e999")
    assert rejection(b'{"type":"a","data":{"a b":[1e999]}}').startswith('data["a b"][0] is 1e999')


def test_fractions_follow_ieee_double_rounding() -> None:
    event = parse_event_line(b'{"type":"a","data":[0.1,1e-400,1.00000000000000000001,5e-324]}', max_bytes=MAX)
    assert event.envelope["data"] == [0.1, 0.0, 1.0, 5e-324]
    assert event.body.endswith(b'"data":[0.1,0.0,1.0,5e-324]}')


def test_an_integer_longer_than_python_reads_is_refused_with_a_reason() -> None:
    assert "more than 4300 digits" in rejection(b'{"type":"a","data":' + b"9" * 5000 + b"}")


def test_nan_and_infinity_are_not_json() -> None:
    assert "invalid JSON" in rejection(b'{"type":"a","data":NaN}')
    assert "invalid JSON" in rejection(b'{"type":"a","data":[1' + b"0" * 400 + b",Infinity]}")


# -- duplicate keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key"),
    [
        (b'{"id":"a","id":"b","type":"t"}', "id"),
        (b'{"type":"a","type":"b"}', "type"),
        (b'{"type":"a","\\u0069d":"x","id":"y"}', "id"),
        (b'{"type":"a","data":1,"d\\u0061ta":2}', "data"),
        (b'{"type":"a","id":"x","data":{"id":1},"id":"y"}', "id"),
        (b'{ "type" : "a" , "time":"2026-01-31T12:00:00Z" ,"time" :"2026-01-31T12:00:01Z"}', "time"),
        (b'{"type":"a","data":' + BIG.encode() + b',"type":"b"}', "type"),
        (b'{"specversion":"1.0","id":"1","source":"s","type":"t","ext":1,"ext":2}', "ext"),
        (b'{"specversion":"1.0","id":"1","source":"s","type":"t","\xc3\xa9":1,"\\u00e9":2}', "\u00e9"),
    ],
)
def test_a_repeated_top_level_key_is_refused_naming_it(line: bytes, key: str) -> None:
    reason = rejection(line)
    assert reason.startswith(f"the key {json.dumps(key, ensure_ascii=False)} appears more than once")


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"a","id":"e1","data":{"id":1,"customer":{"id":"c"},"items":[{"id":2},{"id":3}]}}',
        b'{"type":"a","id":"type","data":["id","type","data"]}',
        b'{"type":"a","data":{"note":"say \\"id\\" twice: \\"id\\""}}',
        b'{"type": "a", "id": "x", "data": {"id": "\\u00e9t\\u00e9"}}',
    ],
)
def test_the_same_name_deeper_or_as_a_value_is_not_a_repeat(line: bytes) -> None:
    parse_event_line(line, max_bytes=MAX)


def test_inside_data_the_last_repeated_key_wins() -> None:
    event = parse_event_line(b'{"type":"a","data":{"k":1,"k":2,"o":{"x":1,"x":[3]}}}', max_bytes=MAX)
    assert event.envelope["data"] == {"k": 2, "o": {"x": [3]}}


# -- text ---------------------------------------------------------------------------------------------


def test_invalid_utf8_is_reported_with_its_byte_offset() -> None:
    assert rejection(b'{"type":"a","data":"ab\xffc"}') == "invalid UTF-8 at byte 22 (0xff); send UTF-8 text"
    assert rejection(b'{"type":"\xed\xa0\x80"}').startswith("invalid UTF-8 at byte 9 (0xed)")
    assert rejection(b'{"type":"a","data":[' + BIG.encode() + b',"\xc3"]}').startswith("invalid UTF-8 at byte")


def test_a_lone_surrogate_escape_is_invalid_json_on_both_paths() -> None:
    assert "invalid JSON" in rejection(b'{"type":"a","data":"\\ud800"}')
    assert "surrogate" in rejection(b'{"type":"a","data":[1' + b"0" * 400 + b',"\\udc00"]}')
    assert parse_event_line(b'{"type":"a","data":[1' + b"0" * 400 + b',"\\ud83d\\ude00"]}', max_bytes=MAX)


@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\x9b", "\t"])
@pytest.mark.parametrize("field", ["id", "type", "source"])
def test_a_control_character_in_id_type_or_source_is_refused(field: str, char: str) -> None:
    value = {"type": "a", field: f"x{char}y"}
    reason = rejection(json.dumps(value).encode())
    assert f'"{field}" holds the control character U+{ord(char):04X} at character 2' in reason
    assert char not in reason


@pytest.mark.parametrize("event_id", [" e1", "e1 ", "\u00a0e1", "e1\u3000"])
def test_an_id_with_surrounding_whitespace_is_refused(event_id: str) -> None:
    reason = rejection(json.dumps({"type": "a", "id": event_id}).encode())
    assert '"id" starts or ends with whitespace' in reason


def test_inner_spaces_and_unicode_in_id_type_and_source_are_fine() -> None:
    event = parse_event_line(
        json.dumps({"type": "commande créée", "id": "a b\u00e9", "source": "shop / eu"}).encode(), max_bytes=MAX
    )
    assert (event.type, event.id, event.source) == ("commande créée", "a b\u00e9", "shop / eu")


# -- hookd test's files and the send client ---------------------------------------------------------


def test_hookd_test_event_files_follow_the_same_rules(tmp_path: Path) -> None:
    from hookd.dryrun import InputError as DryRunInputError
    from hookd.dryrun import parse_events

    good = parse_events(f'{{"type":"a","data":{BIG}}}\n'.encode(), "ev.jsonl")
    assert good[0].event.body.endswith(f'"data":{BIG}}}'.encode())
    for text, expected in [
        ('{"type":"a"}\n{"type":"a","type":"b"}\n', 'ev.jsonl:2: the key "type" appears more than once'),
        ('[{"type":"a","data":{"x":1e400}}]', "ev.jsonl:1: data.x is 1e400"),
        (nested(MAX_DEPTH + 1).decode(), f"ev.jsonl:1: nested more than {MAX_DEPTH} levels"),
        (nested(3000).decode(), f"ev.jsonl:1: nested more than {MAX_DEPTH} levels"),
    ]:
        with pytest.raises(DryRunInputError) as caught:
            parse_events(text.encode(), "ev.jsonl")
        assert str(caught.value).startswith(expected), str(caught.value)


def test_the_send_client_sends_values_exactly_or_refuses_them() -> None:
    assert event_line(f'{{"type": "a", "data": {BIG}}}', "argument 1") == f'{{"type":"a","data":{BIG}}}\n'.encode()
    assert stdin_lines(f'[{{"type":"a","data":{BIG}}}]'.encode()) == [f'{{"type":"a","data":{BIG}}}\n'.encode()]
    for text, expected in [
        ('{"type":"a","id":"x","id":"y"}', 'argument 1: the key "id" appears more than once'),
        (nested(300).decode(), f"argument 1: nested more than {MAX_DEPTH} levels"),
        ('{"type":"a","data":{"amount":1e400}}', "argument 1: data.amount is 1e400"),
    ]:
        with pytest.raises(InputError) as caught:
            event_line(text, "argument 1")
        assert str(caught.value).startswith(expected)
    with pytest.raises(InputError, match='stdin: the key "id" appears more than once in the top-level object of '):
        stdin_lines(b'[{"type":"a"},\n {"type":"a","id":"x","id":"y"}]')


def test_hookd_test_inline_data_follows_the_same_rules() -> None:
    from hookd.dryrun import InputError as DryRunInputError
    from hookd.dryrun import inline_event

    assert inline_event("t", f'{{"n": {BIG}}}').event.body.endswith(f'"data":{{"n":{BIG}}}}}'.encode())
    for data, expected in [
        ("[" * 3000 + "]" * 3000, f"nested more than {MAX_DEPTH} levels"),
        ("[" * MAX_DEPTH + "]" * MAX_DEPTH, f"nested more than {MAX_DEPTH} levels"),
        ('{"amount": 1e400}', "--data: amount is 1e400, which overflows a 64-bit float"),
    ]:
        with pytest.raises(DryRunInputError) as caught:
            inline_event("t", data)
        assert expected in str(caught.value)
