"""A producer's type may not read as starting with `hookd.`, nor its source as `hookd`, however it is
spelled: marks and other characters drawn as nothing or as blank (combining grapheme joiner, variation
selectors, Hangul fillers, the braille blank, spaces of any width, inside the name too), and letters
drawn like h, o, k, d or the dot in other scripts (Cyrillic o, Greek omicron, Cyrillic shha and ka,
Greek kappa, Komi de, ...) are read as a person reads them. Names that only contain or resemble
hookd, or are written in other scripts, pass as before."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import hookd.cli.replay  # noqa: F401  (registers the command)
from hookd.cli.app import app
from hookd.errors import EventError
from hookd.events import parse_event_line
from hookd.look_alikes import (
    _BLANK_CATEGORIES,
    _DRAWN_BLANK,
    _LOOK_ALIKES,
    reads_as,
    reads_as_exactly,
    reads_as_starting_with,
)
from tests.cli_helpers import plain
from tests.conftest import Receiver, db_rows, event_line, running_daemon, send_lines, socket_config, wait_db

runner = CliRunner()
READS_AS = "reads as starting (as a person reads it, ignoring letter case, look-alike and invisible characters"
TYPE_REASON = "with 'hookd.', which is reserved for hookd's own events (alerts)"
SOURCE_REASON = "reads as 'hookd' (as a person reads it, ignoring letter case, look-alike and invisible characters"

# The forms of the finding (its repro script) and the rest of the characters it names.
FINDING_TYPES = [
    "hookd\u034f.delivery.failed",  # combining grapheme joiner (Mn)
    "hookd\ufe0f.hook.paused",  # variation selector 16 (Mn)
    "\u3164hookd.breaker.opened",  # Hangul filler (Lo) in front
    "hookd\u17b4.hook.resumed",  # Khmer vowel inherent aq (Mn)
    "hookd .delivery.failed",  # a space inside
    "hookd\u200b.x",  # zero-width space (Cf), refused before too
    "hookd\u17b5.x",
    "hookd\ufe00.x",
    "hookd\U000e0100.x",  # variation selector 17
    "hookd\U000e01ef.x",  # variation selector 256
    "hoo\u115fkd.x",  # Hangul choseong filler
    "hoo\u1160kd.x",  # Hangul jungseong filler
    "hookd\uffa0.x",  # halfwidth Hangul filler
    "hookd\u2800.x",  # braille pattern blank (So)
    "h o o k d . x",
    "hookd\u00a0.x",  # no-break space
    "hookd\u2003.x",  # em space
    "hookd\u3000.x",  # ideographic space
    "h\u043eokd.x",  # Cyrillic o
    "h\u03bf\u03bfkd.x",  # Greek omicron
    "\u04bbookd.x",  # Cyrillic shha
    "hoo\u043ad.x",  # Cyrillic ka
    "hoo\u03bad.x",  # Greek kappa
    "hook\u0501.x",  # Cyrillic Komi de
    "\u04bb\u043e\u043e\u043a\u0501.x",  # all Cyrillic
    "\u0397\u039f\u039f\u039a\u13a0.x",  # Greek capitals and Cherokee A: HOOKD
    "hookd\ua4f8x",  # Lisu tone mya ti: a dot
    "h00kd.x",  # digit zeros
    "hookd\u0323.x",  # a combining dot below the d
    "hoo\u1e33d.x",  # ḳ: k with a dot below (precomposed)
]
FINDING_SOURCES = ["hookd\u3164", "hookd\u2800", "hoo\u115fkd", "h\u043eokd", "hoo kd", "hookd\u034f", "\u04bbookd"]
GOOD_TYPES = [
    "order.created",
    "hookdemo.x",
    "shop.hookd.x",
    "\u00ff.x",  # ÿ
    "hookd",  # no dot: does not start with hookd.
    "hook.d",
    "h\u00f6kd.x",  # hökd: four letters
    "\u8a02\u55ae.\u5efa\u7acb",  # 訂單.建立
    "\u0437\u0430\u043a\u0430\u0437.\u0441\u043e\u0437\u0434\u0430\u043d",  # заказ.создан
    "\u043d\u043e\u0432\u044b\u0439.\u0437\u0430\u043a\u0430\u0437",  # новый.заказ
    "\u03b7ookd.x",  # Greek small eta reads as n
    "hookdx.y",
]
# What hookd refuses before it looks at names: a type or source holding one of these gets another reason.
_REFUSED_CONTROLS = set("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def line(**fields: str) -> str:
    return json.dumps({"id": "e1", **fields})


@pytest.mark.parametrize("etype", FINDING_TYPES)
def test_each_look_alike_type_of_the_finding_is_rejected(etype: str) -> None:
    with pytest.raises(EventError) as e:
        parse_event_line(line(type=etype), max_bytes=10_000)
    message = str(e.value)
    assert f'"type" {etype!r} {READS_AS}' in message
    assert TYPE_REASON in message and 'give your event a type of your own, like "order.created"' in message


@pytest.mark.parametrize("source", FINDING_SOURCES)
def test_each_look_alike_source_of_the_finding_is_rejected(source: str) -> None:
    with pytest.raises(EventError) as e:
        parse_event_line(line(type="order.created", source=source), max_bytes=10_000)
    assert f'"source" {source!r} {SOURCE_REASON}' in str(e.value)
    assert 'name your producer otherwise, like "shop/orders"' in str(e.value)


@pytest.mark.parametrize("etype", GOOD_TYPES)
def test_types_that_do_not_read_as_hookds_pass(etype: str) -> None:
    assert parse_event_line(line(type=etype, source="shop/orders"), max_bytes=10_000).type == etype


def test_control_characters_read_as_nothing() -> None:
    # hookd refuses them in a type or source before reading it (they would forge log lines), but the
    # reading itself does not depend on that.
    assert reads_as("ho\x00ok\x1bd\x7f.\u0085x") == "hookd.x"
    assert reads_as_starting_with("ho\tokd.x", "hookd.") and reads_as_exactly("\x01hookd\n", "hookd")


def test_each_look_alike_in_the_table_stands_for_its_letter_in_either_case() -> None:
    for char, letter in _LOOK_ALIKES.items():
        # Looked up before NFKD as well as after: one it changes (a spacing dot above) counts too.
        assert unicodedata.category(char) not in _BLANK_CATEGORIES and char not in _DRAWN_BLANK
        spelled = "".join(char if c == letter else c for c in "hookd.x")
        assert reads_as_starting_with(spelled, "hookd."), f"U+{ord(char):04X}"
        assert reads_as_starting_with(spelled.upper(), "hookd."), f"U+{ord(char):04X}"


def test_reads_as() -> None:
    assert reads_as(" \uff28\uff4f\uff4f\uff4b\uff44\u2024Delivery ") == "hookd.delivery"
    assert reads_as("Hoo\u034fkd .X") == "hookd.x"
    assert reads_as("Stra\u00dfe") == "strasse"
    assert reads_as("\u0130stanbul") == "istanbul"  # İ folds to i and a combining dot, which goes
    assert reads_as("\U0001d421\U0001d428\U0001d428\U0001d424\U0001d41d") == "hookd"  # mathematical bold
    # The second attacker review's forms: letters with a stroke or hook, and dots of other scripts.
    for text in ("\u0127ookd.x", "hook\u0111.x", "h\u00f8\u00f8kd.x", "hookd\u00b7x", "hookd\u3002x", "hookd\u02d9x"):
        assert reads_as(text) == "hookd.x", text


# Characters that hookd refuses anyway (controls, bidi controls, line separators, lone surrogates)
# are left out: a name holding one is rejected for that first.
_ALLOWED = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=sorted(_REFUSED_CONTROLS))
_BLANKS = st.one_of(
    st.sampled_from(sorted(_DRAWN_BLANK | {" ", "\u00a0", "\u2003", "\u3000", "\u200b", "\u00ad", "\u034f"})),
    st.sampled_from(["\ufe0f", "\U000e0100", "\u17b4", "\u17b5", "\u0301", "\u20dd", "\u180e", "\u2060", "\ufeff"]),
    st.characters(whitelist_categories=("Cf", "Mn", "Me", "Zs"), blacklist_characters=sorted(_REFUSED_CONTROLS)),
)


def _spellings(letter: str) -> st.SearchStrategy[str]:
    look_alikes = sorted(c for c, to in _LOOK_ALIKES.items() if to == letter)
    return st.sampled_from([letter, letter.upper(), *look_alikes])


@st.composite
def hookd_look_alikes(draw: st.DrawFn, name: str) -> str:
    """`name` spelled with any look-alikes of its letters, blanks anywhere in it."""
    parts = []
    for letter in name:
        parts.append("".join(draw(st.lists(_BLANKS, max_size=2))))
        parts.append(draw(_spellings(letter)))
    parts.append("".join(draw(st.lists(_BLANKS, max_size=2))))
    return "".join(parts)


def _first_read_char_is_not_h(c: str) -> bool:
    read = reads_as(c)
    return read != "" and read[0] != "h"


@settings(max_examples=300, deadline=None)
@given(spelled=hookd_look_alikes("hookd."), rest=st.text(_ALLOWED, max_size=20))
def test_any_spelling_that_reads_as_hookd_dot_is_rejected(spelled: str, rest: str) -> None:
    etype = spelled + rest
    with pytest.raises(EventError) as e:
        parse_event_line(line(type=etype), max_bytes=10_000)
    assert TYPE_REASON in str(e.value)


@settings(max_examples=300, deadline=None)
@given(spelled=hookd_look_alikes("hookd"))
def test_any_spelling_that_reads_as_hookd_is_a_rejected_source(spelled: str) -> None:
    with pytest.raises(EventError) as e:
        parse_event_line(line(type="order.created", source=spelled), max_bytes=10_000)
    assert "is reserved for hookd's own events (alerts)" in str(e.value)


@settings(max_examples=500, deadline=None)
@given(first=_ALLOWED.filter(_first_read_char_is_not_h), rest=st.text(_ALLOWED, max_size=30))
def test_random_text_that_does_not_start_with_a_look_alike_of_h_is_accepted(first: str, rest: str) -> None:
    """Random names whose first visible character does not read as h: CJK, Cyrillic, accented and
    symbol names among them, are accepted as type and as source."""
    name = first + rest
    event = parse_event_line(line(type=name, source=name), max_bytes=10_000)
    assert event.type == name and event.source == name


@settings(max_examples=300, deadline=None)
@given(
    spelled=hookd_look_alikes("hookd"),
    after=_ALLOWED.filter(lambda c: reads_as(c)[:1] not in ("", ".")),
    rest=st.text(_ALLOWED, max_size=10),
)
def test_hookd_followed_by_anything_but_a_dot_is_accepted_as_a_type(spelled: str, after: str, rest: str) -> None:
    etype = spelled + after + rest  # hookdemo.x, hookd-x, hookd訂單
    assert parse_event_line(line(type=etype), max_bytes=10_000).type == etype


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=30))
def test_the_short_readings_agree_with_the_whole_reading(text: str) -> None:
    assert reads_as_starting_with(text, "hookd.") == reads_as(text).startswith("hookd.")
    assert reads_as_exactly(text, "hookd") == (reads_as(text) == "hookd")


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(max_codepoint=0x7F), max_size=12))
def test_ascii_text_is_read_as_the_general_reading_reads_it(text: str) -> None:
    expected = "".join(_LOOK_ALIKES.get(c, c.lower()) for c in text if c.isprintable() and c != " ")
    assert reads_as(text) == expected
    assert reads_as_starting_with(text, "hookd.") == expected.startswith("hookd.")
    assert reads_as_exactly(text, "hookd") == (expected == "hookd")


async def test_a_running_daemon_rejects_the_findings_forms_with_the_reason(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon with a socket and a file source, and a "*" hook.
    2. Over the socket: the finding's first event (type hookd + combining grapheme joiner, source
       hookd + Hangul filler), a type with a Cyrillic o and a good event.
       3. The file gets a type with a space inside, then a good line.
    Result: the socket answers the first two with the reason, the third ok; the file's line is a
    rejection with the reason; only the good events are stored and delivered."""
    db = short_dir / "hookd.db"
    log = short_dir / "events.jsonl"
    log.write_bytes(b"")
    cfg = socket_config(
        short_dir, f'hooks:\n  - {{name: all, events: ["*"], url: "{receiver.url("/all")}"}}\n', tail_log=True
    )
    async with running_daemon(cfg):
        replies = await send_lines(
            short_dir / "s.sock",
            [
                event_line("hookd\u034f.delivery.failed", id="f1", source="hookd\u3164", data={"hook": "payments"}),
                event_line("h\u043eokd.hook.paused", id="f2"),
                event_line("order.created", id="ok1"),
            ],
        )
        with log.open("ab") as f:
            f.write(event_line("hookd .delivery.failed", id="f3") + b"\n")
            f.write(event_line("user.created", id="ok2") + b"\n")
        await wait_db(db, "SELECT count(*) FROM events", lambda r: r == [(2,)])
        await receiver.wait_count(2, "/all")
    assert replies[0]["ok"] is False
    assert f"\"type\" 'hookd\u034f.delivery.failed' {READS_AS}" in str(replies[0]["error"])
    assert replies[1]["ok"] is False and TYPE_REASON in str(replies[1]["error"])
    assert replies[2]["ok"] is True
    rejected = db_rows(db, "SELECT source, position, reason FROM rejected ORDER BY id")
    assert [(s, p) for s, p, _ in rejected] == [("app", "conn 1 line 1"), ("app", "conn 1 line 2"), ("log", f"{log}:1")]
    assert f"\"type\" 'hookd .delivery.failed' {READS_AS}" in str(rejected[2][2])
    assert db_rows(db, "SELECT id FROM events ORDER BY id") == [("ok1",), ("ok2",)]
    assert sorted(json.loads(r.body)["id"] for r in receiver.at("/all")) == ["ok1", "ok2"]


def test_replay_from_file_refuses_a_look_alike(short_dir: Path) -> None:
    """`hookd replay --from-file` with a line typed with a variation selector: exit 2, the line named
    with the reason, nothing queued."""
    cfg = socket_config(short_dir, 'hooks:\n  - {name: all, events: ["*"], url: "http://127.0.0.1:9/all"}\n')
    events = short_dir / "replay.jsonl"
    events.write_bytes(
        event_line("order.created", id="r1") + b"\n" + event_line("hookd\ufe0f.hook.paused", id="r2") + b"\n"
    )
    result = runner.invoke(app, ["replay", "-c", str(cfg), "--from-file", str(events)], env={"HOOKD_CONFIG": None})
    assert result.exit_code == 2, result.output
    assert f"{events}:2: \"type\" 'hookd\ufe0f.hook.paused' {READS_AS}" in plain(result.stderr)
    db = short_dir / "hookd.db"
    assert not db.exists() or db_rows(db, "SELECT count(*) FROM events") == [(0,)]
