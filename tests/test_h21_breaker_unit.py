"""The circuit breaker on its own (pure: times are given) and its config (issue 21)."""

from __future__ import annotations

from pathlib import Path

from hookd.breaker import Breaker
from hookd.config.load import check_config
from hookd.config.model import BreakerConfig


def test_it_opens_after_failures_in_a_row_probes_after_the_cooldown_and_closes_on_an_answer() -> None:
    b = Breaker(BreakerConfig(failures=3, cooldown_s=30.0))
    assert [b.failed(100.0, "HTTP 503"), b.failed(101.0, "HTTP 503")] == [None, None]
    assert b.succeeded(102.0) is None  # a success ends the run: three more are needed
    assert [b.failed(t, "HTTP 503") for t in (103.0, 104.0)] == [None, None]
    assert b.failed(105.0, "timed out after 30s") == "opened"
    assert (b.state, b.retry_at) == ("open", 135.0)
    assert b.reason == "3 retryable failures in a row, the last: timed out after 30s"
    assert b.tick(134.9) is None
    assert b.tick(135.0) == "half_open" and b.state == "half_open"
    assert b.failed(136.0, "HTTP 502") == "reopened"
    assert (b.state, b.retry_at, b.reason) == ("open", 166.0, "the probe failed: HTTP 502")
    assert b.tick(166.0) == "half_open"
    assert b.succeeded(167.0) == "closed"
    assert (b.state, b.in_a_row, b.failing_since, b.reason) == ("closed", 0, None, "a probe was answered")


def test_a_clock_stepped_back_does_not_lengthen_the_cooldown() -> None:
    """Opened at 1,000 (cooldown 30 s, probe at 1,030); the wall clock is then stepped back an hour.
    The cooldown counts from the first look after the step: the probe is due 30 s later, not an hour."""
    b = Breaker(BreakerConfig(failures=1, cooldown_s=30.0))
    assert b.failed(1000.0, "HTTP 503") == "opened"
    assert b.tick(1000.0 - 3600.0) is None
    assert b.retry_at == 1000.0 - 3600.0 + 30.0
    assert b.tick(1000.0 - 3600.0 + 30.0) == "half_open"


def test_disable_after_counts_from_the_first_failure_and_starts_again_on_resume() -> None:
    b = Breaker(BreakerConfig(failures=2, cooldown_s=60.0, disable_after_s=180.0))
    b.failed(1000.0, "HTTP 500")
    b.failed(1001.0, "HTTP 500")
    assert not b.failing_too_long(1179.0)
    assert b.failing_too_long(1180.0)
    assert b.resumed(1200.0) == "half_open"  # an open breaker probes at once on resume
    assert b.failing_since is None and not b.failing_too_long(5000.0)
    assert not Breaker(BreakerConfig()).failing_too_long(1e12)  # no disable_after: never


def test_breaker_config_defaults_and_lint(tmp_path: Path) -> None:
    """breaker: {} takes failures 10 and cooldown 30s and no disable_after; no block, no breaker; a
    disable_after not longer than the cooldown and a cooldown of 0 are warnings at their keys."""
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\nhooks:\n  - {name: a, events: [x], url: 'http://x'}\n"
        "  - {name: b, events: [x], url: 'http://x', breaker: {}}\n"
        "  - {name: c, events: [x], url: 'http://x', breaker: {failures: 5, cooldown: 1m, disable_after: 3d}}\n",
        encoding="utf-8",
    )
    settings = check_config(path, env={}).settings
    assert settings is not None
    assert [h.breaker for h in settings.hooks] == [
        None,
        BreakerConfig(failures=10, cooldown_s=30.0, disable_after_s=None),
        BreakerConfig(failures=5, cooldown_s=60.0, disable_after_s=3 * 86400.0),
    ]
    path.write_text(
        "version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: 'http://x'\n"
        "    breaker: {cooldown: 0, disable_after: 0s}\n",
        encoding="utf-8",
    )
    result = check_config(path, env={})
    assert result.settings is not None
    warnings = sorted((p.column, p.message) for p in result.problems if p.severity == "warning")
    assert [column for column, _ in warnings] == [25, 43]  # at the values
    assert "a cooldown of 0 probes again at once" in warnings[0][1]
    assert "disable_after (0ms) is not longer than the cooldown (0ms)" in warnings[1][1]
    path.write_text("version: 1\nhooks:\n  - {name: a, events: [x], url: 'http://x', breaker: {failure: 3}}\n")
    bad = check_config(path, env={})
    assert bad.settings is None and "failure" in str(bad.problems[0])
