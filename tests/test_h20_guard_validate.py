"""`hookd validate` on templated URLs, allow_hosts and allow_destinations: each mistake is a
problem at its line and column saying how to fix it; a config that uses them well loads."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hookd.cli.app import app
from hookd.config.load import load_config
from tests.cli_helpers import plain

runner = CliRunner()
HOOK = "version: 1\nhooks:\n  - name: a\n    events: [x]\n"
WHERE = "hooks[0] (name='a')"


def validate(tmp_path: Path, text: str) -> tuple[int, list[str], Path]:
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)], env={"HOOKD_CONFIG": None})
    return result.exit_code, plain(result.stdout).splitlines(), path


def test_a_well_used_templated_url_loads(tmp_path: Path) -> None:
    """A templated host with allow_hosts, templated path and query, allow_destinations: valid, and the
    settings carry both lists."""
    text = HOOK + (
        "    url: 'https://{{ data.shop }}.shop.example:8443/orders/{{ data.id }}?v={{ data.v }}'\n"
        "    allow_hosts: ['*.shop.example', partner.example]\n"
        "    allow_destinations: [10.20.0.0/16, 'fd00::/8', 192.0.2.7]\n"
    )
    code, lines, path = validate(tmp_path, text)
    assert (code, lines) == (0, [f"ok {path}: 1 hook(s), 0 source(s)"])
    [hook] = load_config(path).hooks
    assert hook.allow_hosts == ("*.shop.example", "partner.example")
    assert hook.allow_destinations == ("10.20.0.0/16", "fd00::/8", "192.0.2.7")


def test_a_templated_host_needs_allow_hosts(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, HOOK + "    url: 'https://{{ data.shop }}.shop.example/x'\n")
    assert code == 1
    assert lines[0] == (
        f"{path}:5:10: error: {WHERE}.url: the host of url is templated, so the hook must list the hosts it may "
        'send to: add allow_hosts, like allow_hosts: ["*.shop.example"] (event data could otherwise send the '
        "request, and its credentials, anywhere)"
    )


def test_a_templated_scheme_is_an_error(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, HOOK + "    url: '{{ data.callback }}'\n")
    assert code == 1
    assert lines[0].startswith(f"{path}:5:10: error: {WHERE}.url: the scheme of a templated url must be written out")


def test_url_expressions_are_checked_like_payload_and_headers(tmp_path: Path) -> None:
    """A field no event has gets did-you-mean; a syntax error is an error."""
    code, lines, path = validate(tmp_path, HOOK + "    url: 'https://x.example/{{ order_id }}'\n")
    assert code == 0
    assert lines[0] == (
        f"{path}:5:10: warning: {WHERE}.url: in {{{{ order_id }}}}: order_id is always null: events have no field "
        "'order_id' (only id, type, time, source and data, plus a CloudEvent's attributes and, for an http "
        "source's events, request); did you mean data.order_id?"
    )
    code, lines, path = validate(tmp_path, HOOK + "    url: 'https://x.example/{{ data. }}'\n")
    assert code == 1 and lines[0].startswith(f"{path}:5:10: error: {WHERE}.url: in {{{{ data. }}}}: JMESPath syntax")


def test_allow_destinations_entries_must_be_networks(tmp_path: Path) -> None:
    text = HOOK + (
        "    url: 'https://x.example/{{ data.id }}'\n    allow_destinations: [10.0.0.1/8, intranet, 0.0.0.0/0]\n"
    )
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert lines[:3] == [
        f"{path}:6:26: error: {WHERE}.allow_destinations[0]: '10.0.0.1/8' has bits set past its prefix length; "
        "write the network as 10.0.0.0/8",
        f"{path}:6:38: error: {WHERE}.allow_destinations[1]: 'intranet' is not a network; write an address or a "
        "network in CIDR form, like 10.20.0.0/16 or fd00::/8",
        f"{path}:6:48: warning: {WHERE}.allow_destinations[2]: 0.0.0.0/0 allows every address, which turns the "
        "destination guard off for this hook; list only the networks its receivers are in, like 10.20.0.0/16",
    ]


def test_allow_hosts_entries_must_name_hosts(tmp_path: Path) -> None:
    text = (
        HOOK
        + "    url: 'https://{{ data.h }}/x'\n    allow_hosts: ['*', '*.com', 10.0.0.5, 'a_b.example', ok.example]\n"
    )
    code, lines, _ = validate(tmp_path, text)
    assert code == 1
    assert [line.split(": ", 3)[2:] for line in lines[:4]] == [
        [f"{WHERE}.allow_hosts[0]", "allow_hosts entry '*' would let event data pick almost any host; write out "
         "at least the last two labels, like *.shop.example"],
        [f"{WHERE}.allow_hosts[1]", "allow_hosts entry '*.com' would let event data pick almost any host; write "
         "out at least the last two labels, like *.shop.example"],
        [f"{WHERE}.allow_hosts[2]", "allow_hosts entry '10.0.0.5' looks like an address; allow_hosts lists host "
         "names (addresses go in allow_destinations)"],
        [f"{WHERE}.allow_hosts[3]", "allow_hosts entry 'a_b.example' is not a host name pattern; write names like "
         "api.shop.example or *.shop.example (letters, digits, - and *, labels between dots)"],
    ]  # fmt: skip


def test_settings_that_cannot_apply_are_warned(tmp_path: Path) -> None:
    """allow_hosts with a written-out host, allow_destinations on a hook the guard never checks (a
    written-out url, no redirects followed): warnings saying so."""
    text = HOOK + "    url: https://x.example/\n    allow_hosts: [x.example]\n    allow_destinations: [10.0.0.0/8]\n"
    code, lines, path = validate(tmp_path, text)
    assert code == 0
    assert lines[:2] == [
        f"{path}:6:5: warning: {WHERE}.allow_hosts: allow_hosts has no effect: it lists the hosts a templated host "
        "of url may render to, and this url's host is written out; remove it",
        f"{path}:7:5: warning: {WHERE}.allow_destinations: allow_destinations has no effect: the destination guard "
        "checks templated URLs and redirects, and this hook has a written-out url and does not follow redirects; "
        "remove it",
    ]
    followed = text + "    follow_redirects: true\n"
    code, lines, path = validate(tmp_path, followed.replace("    allow_hosts: [x.example]\n", ""))
    assert (code, lines) == (0, [f"ok {path}: 1 hook(s), 0 source(s)"])
