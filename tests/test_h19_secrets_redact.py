"""The Redactor: config secrets hidden by value in the forms they are echoed in; too-short values
are a validate warning; log lines and tracebacks go through it."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from typer.testing import CliRunner

import hookd.cli.history
import hookd.cli.validate  # noqa: F401
from hookd.cli.app import app
from hookd.config.load import check_config, load_config
from hookd.events import event_from_object
from hookd.logs import setup_logging
from hookd.redact import MIN_SECRET_CHARS, Redactor, base64_fragments, redact_log_handlers
from hookd.router import Router
from hookd.senders.base import Hop, Outcome, redact_outcome
from hookd.store.base import AttemptRecord, RoutedEvent
from tests.conftest import daemon_config, open_store, write_config

SECRET = "s3cr/et+v alü&Z"
REDACTOR = Redactor([(SECRET, "${TOKEN}"), ("hunter2hunter2", "${PASSWORD}")])


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote(SECRET, safe="/+&"),
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SECRET, safe="")),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False).replace("/", "\\/")[1:-1],
        SECRET.replace("&", "&amp;"),
        SECRET.replace("+", " "),  # a form decoder's reading of it
    ],
)
def test_a_secret_is_hidden_in_every_form_it_is_echoed_in(form: str) -> None:
    assert REDACTOR.text(f"before {form} after") == "before ${TOKEN} after"


@pytest.mark.parametrize("prefix", ["", "u:", "us:", "user:", "a much longer prefix:"])
@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
def test_a_secret_inside_base64_is_hidden_whatever_precedes_it(prefix: str, alphabet: str) -> None:
    encode = base64.b64encode if alphabet == "standard" else base64.urlsafe_b64encode
    token = encode(f"{prefix}hunter2hunter2;tail".encode()).decode()

    assert (
        REDACTOR.text(f"Authorization: Basic {token}, more") == "Authorization: Basic <base64 with ${PASSWORD}>, more"
    )


def test_base64_fragments_cover_every_alignment() -> None:
    for offset in range(3):
        encoded = base64.b64encode(b"x" * offset + b"hunter2hunter2" + b"y").decode()
        assert any(f in encoded for f in base64_fragments("hunter2hunter2")), offset


def test_values_shorter_than_the_minimum_are_left_alone() -> None:
    short = "a" * (MIN_SECRET_CHARS - 1)
    redactor = Redactor([(short, "${SHORT}")])
    assert not redactor
    assert redactor.text(f"x {short} y") == f"x {short} y"


def test_headers_urls_and_json_values() -> None:
    assert REDACTOR.headers({"X-Team": f"team {SECRET}", "Authorization": "Bearer abc"}) == {
        "X-Team": "team ${TOKEN}",
        "Authorization": "***",
    }
    assert REDACTOR.url(f"http://bob:pw@h/p/{quote(SECRET, safe='')}?c=hunter2hunter2&token=x") == (
        "http://***@h/p/${TOKEN}?c=${PASSWORD}&token=***"
    )
    assert REDACTOR.value({"note": f"n {SECRET}", SECRET: [1, "hunter2hunter2"]}) == {
        "note": "n ${TOKEN}",
        "${TOKEN}": [1, "${PASSWORD}"],
    }


def test_an_outcome_is_redacted_everywhere_it_could_repeat_a_secret() -> None:
    outcome = Outcome(
        status=302,
        ok=False,
        retryable=False,
        duration_s=0.1,
        error=f"HTTP 302 redirect to /x/{SECRET} not followed",
        response_excerpt=f"<pre>Authorization: Basic {base64.b64encode(b'bob:hunter2hunter2').decode()}</pre>",
        response_headers={"location": f"http://bob:pw@h/x/{quote(SECRET, safe='')}", "server": "t"},
        hops=(Hop(f"http://h/a?c={SECRET}", 302), Hop("http://h/b", 500)),
    )

    shown = redact_outcome(outcome, REDACTOR)

    assert shown.error == "HTTP 302 redirect to /x/${TOKEN} not followed"
    assert shown.response_excerpt == "<pre>Authorization: Basic <base64 with ${PASSWORD}></pre>"
    assert shown.response_headers == {"location": "http://***@h/x/${TOKEN}", "server": "t"}
    assert [h.url for h in shown.hops] == ["http://h/a?c=${TOKEN}", "http://h/b"]


def test_a_location_with_credentials_is_redacted_even_without_config_secrets() -> None:
    outcome = Outcome(status=302, ok=False, retryable=False, duration_s=0.1,
                      response_headers={"location": "http://bob:hunter2@h/in?token=abc"})  # fmt: skip
    assert redact_outcome(outcome, Redactor()).response_headers == {"location": "http://***@h/in?token=***"}


def test_headers_holding_a_secret_are_private_to_the_hooks_origin(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
        version: 1
        hooks:
          - name: h
            events: ["*"]
            url: http://127.0.0.1:9/in
            headers: {X-Team: "team ${TEAM_KEY}", X-Plain: "hello", X-Id: "{{ id }}"}
        """,
    )
    settings = load_config(cfg, env={"TEAM_KEY": "teamKey12345"})
    [hook] = Router(settings.hooks, secrets=settings.secrets).hooks
    assert hook.private_headers == frozenset({"X-Team"})


# -- hookd validate ---------------------------------------------------------------------------------


def test_validate_warns_about_a_secret_too_short_to_hide_naming_the_variable(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
        version: 1
        hooks:
          - name: h
            events: ["*"]
            url: http://127.0.0.1:9/in?key=${SHORT_KEY}
            concurrency: ${N}
            headers: {X-Long: "${LONG_KEY}"}
        """,
    )
    env = {"SHORT_KEY": "abc123", "N": "4", "LONG_KEY": "long-enough-value"}

    problems = check_config(cfg, env=env).problems

    [warning] = problems
    assert (warning.severity, warning.line, warning.path) == ("warning", 5, "hooks[0] (name='h').url")
    assert warning.message == (
        "the value of ${SHORT_KEY} is only 6 character(s) long: hookd hides secrets by value only from 8 "
        "characters on, so this one may appear in logs, history and command output; use a longer secret, or "
        "write the value in the config if it is not one"
    )
    result = CliRunner().invoke(app, ["validate", str(cfg)], env=env)
    assert result.exit_code == 0, result.output
    assert "${SHORT_KEY} is only 6 character(s) long" in result.output
    assert "abc123" not in result.output


# -- log lines --------------------------------------------------------------------------------------


@pytest.fixture
def hookd_logging() -> Iterator[None]:
    logger = logging.getLogger("hookd")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_log_lines_and_tracebacks_are_redacted(
    fmt: str, hookd_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging(fmt)  # type: ignore[arg-type]
    redact_log_handlers(REDACTOR)
    log = logging.getLogger("hookd.test")

    log.warning("delivery to %s failed", f"http://h/{quote(SECRET, safe='')}")
    try:
        raise ValueError(f"bad value {SECRET}")
    except ValueError:
        log.exception("internal error with hunter2hunter2")

    err = capsys.readouterr().err
    assert SECRET not in err and quote(SECRET, safe="") not in err and "hunter2hunter2" not in err
    assert "delivery to http://h/${TOKEN} failed" in err
    assert "internal error with ${PASSWORD}" in err
    assert "ValueError: bad value ${TOKEN}" in err.replace("\\n", "\n")


def test_fields_given_with_extra_are_redacted(hookd_logging: None) -> None:
    setup_logging("human")
    redact_log_handlers(REDACTOR)
    [handler] = logging.getLogger("hookd").handlers
    record = logging.LogRecord("hookd.x", logging.INFO, "f", 1, "m", None, None)
    record.url = f"http://h/{SECRET}"

    assert handler.filter(record)
    assert record.url == "http://h/${TOKEN}"


def test_installing_again_replaces_the_filter(hookd_logging: None) -> None:
    setup_logging("human")
    redact_log_handlers(REDACTOR)
    redact_log_handlers(Redactor())
    [handler] = logging.getLogger("hookd").handlers
    assert len(handler.filters) == 1


# -- history show on a database written before secrets were hidden by value --------------------------


async def test_history_show_hides_config_secrets_kept_by_an_older_hookd(tmp_path: Path) -> None:
    """1. A database whose attempt kept a secret raw (as hookd did before it redacted by value): in
       the URL, a header of an innocent name, the Location, the echoed body and the error.
    2. `hookd history show` with the config prints none of it, only the ${VAR} reference."""
    cfg = daemon_config(
        tmp_path,
        """
        hooks: [{name: h, events: ["*"], url: "http://127.0.0.1:9/in/${TOKEN}"}]
        """,
    )
    secret = "oldSecretValue42"
    async with open_store(tmp_path / "hookd.db") as store:
        event = event_from_object({"id": "e1", "type": "t", "data": {}}, now=100.0)
        await store.ingest([RoutedEvent(event=event, source="sock", hooks=("h",))], [], [], 100.0)
        [due] = await store.claim_due(200.0, {"h": 1})
        await store.record_attempts([
            AttemptRecord(
                delivery_id=due.id, attempt=1, started_at=200.0, duration_s=0.1, status=500,
                error=f"HTTP 500 at /in/{secret}",
                request={"method": "POST", "url": f"http://127.0.0.1:9/in/{secret}", "headers": {"X-Team": secret}},
                response_headers={"location": f"/in/{secret}"}, response_excerpt=f"echo: {secret}",
                state="failed", next_at=None, hops=(Hop(f"http://127.0.0.1:9/in/{secret}", 500),),
            )
        ])  # fmt: skip

    for args in (["history", "show", "e1", "-c", str(cfg)], ["history", "show", "e1", "-c", str(cfg), "--json"]):
        result = await asyncio.to_thread(CliRunner().invoke, app, args, env={"TOKEN": secret})
        assert result.exit_code == 0, result.output
        assert secret not in result.output
        assert "${TOKEN}" in result.output
