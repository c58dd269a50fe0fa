"""The `--data JSON` option of `hookd send` and `hookd test`: one parser, so both say the same."""

from __future__ import annotations

from hookd import jsonvalue


def parse_data_option(text: str) -> object:
    """The event data `text` describes, parsed as hookd parses events.

    Raises ValueError with a sentence (without the `--data: ` label) when the JSON is invalid, holds
    a number a 64-bit float cannot hold, or is nested deeper than events may be."""
    try:
        data = jsonvalue.loads(text)
    except jsonvalue.JsonSyntaxError as e:
        raise ValueError(f"{syntax_text(e)}; quote strings, like --data '\"text\"'") from None
    except jsonvalue.JsonValueError as e:
        raise ValueError(str(e)) from None
    # The event holds the data one level down, so the data may use one level less.
    if jsonvalue.nested_deeper_than({"data": data}, jsonvalue.MAX_DEPTH):
        raise ValueError(jsonvalue.too_deep_text())
    return data


def syntax_text(e: jsonvalue.JsonSyntaxError) -> str:
    """`invalid JSON (what the parser said)`, or the invalid UTF-8 sentence as it is."""
    text = str(e)
    return f"invalid JSON ({text.removeprefix('invalid JSON: ')})" if text.startswith("invalid JSON: ") else text
