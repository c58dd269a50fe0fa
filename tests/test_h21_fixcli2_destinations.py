"""`hookd hooks pause|resume --destination` (issue 21, second new-user review findings 3, 4, 5, 11): a
destination is given as the daemon keys it (host:port when the url writes or templates a port), a port
that is no port number is refused, and a misspelt hook name creates no database."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.cli_helpers import hookd, plain
from tests.conftest import db_rows, socket_config


def words(text: str) -> str:
    return " ".join(plain(text).split())


def config(d: Path) -> Path:
    """Hook tp: templated host and port (https); hook tmpl2: templated host, written port 8791; hook tmpl:
    templated host, no port."""
    return socket_config(
        d,
        """
        hooks:
          - name: tp
            events: ["*"]
            url: "https://{{ data.tenant }}.shop.example:{{ data.port }}/ok"
            allow_hosts: ["*.shop.example"]
          - name: tmpl2
            events: ["*"]
            url: "http://{{ data.tenant }}:8791/ok"
            allow_hosts: [localhost]
          - name: tmpl
            events: ["*"]
            url: "http://{{ data.tenant }}.shop.example/hook"
            allow_hosts: ["*.shop.example"]
        """,
    )


PAUSED = "SELECT hook, destination FROM destination_state ORDER BY hook, destination"


async def test_a_bare_host_of_a_hook_that_templates_its_port_is_refused(short_dir: Path) -> None:
    """1. Hook tp (`https://{{ data.tenant }}.shop.example:{{ data.port }}/ok`).
    2. `hooks pause tp --destination eu.shop.example`. 3. `--destination eu.shop.example:443`;
    `--destination https://eu.shop.example/`.
    Result: (2) exit 2, nothing stored: the message says each destination is host:port and gives
    eu.shop.example:443. (3) both name eu.shop.example:443 (the second finds it paused already).
    4. `hooks resume tp --destination eu.shop.example`. Result: exit 2 naming the paused
    eu.shop.example:443."""
    cfg = config(short_dir)
    db = short_dir / "hookd.db"
    bare = await hookd("hooks", "pause", "tp", "--destination", "eu.shop.example", "-c", str(cfg))
    assert bare.exit_code == 2, bare.output
    text = words(bare.output)
    assert "hook 'tp' templates its url's port, so each of its destinations is host:port" in text
    assert "e.g. eu.shop.example:443 for the https default port" in text
    assert not db.exists()

    with_port = await hookd("hooks", "pause", "tp", "--destination", "eu.shop.example:443", "-c", str(cfg))
    assert with_port.exit_code == 0, with_port.output
    assert "paused tp → eu.shop.example:443" in words(with_port.output)
    url = await hookd("hooks", "pause", "tp", "--destination", "https://eu.shop.example/", "-c", str(cfg), "--json")
    assert url.exit_code == 0, url.output
    got = orjson.loads(url.stdout)
    assert (got["destination"], got["changed"]) == ("eu.shop.example:443", False)
    assert db_rows(db, PAUSED) == [("tp", "eu.shop.example:443")]

    resumed = await hookd("hooks", "resume", "tp", "--destination", "eu.shop.example", "-c", str(cfg))
    assert resumed.exit_code == 2, resumed.output
    assert "its paused destinations are: eu.shop.example:443" in words(resumed.output)


async def test_a_port_that_is_no_port_number_is_refused(short_dir: Path) -> None:
    """1. Hooks tmpl (no port written) and tp (templated port).
    2. `hooks pause tmpl --destination` eu.shop.example:abc, :-1, :80:80, :0, :70000, and
    `http://eu.shop.example:abc/`; `hooks pause tp --destination eu.shop.example:abc`.
    Result: (2) each exits 2 saying the port is not a port number; nothing is stored."""
    cfg = config(short_dir)
    given = ["eu.shop.example:abc", "eu.shop.example:-1", "eu.shop.example:80:80", "eu.shop.example:0"]
    for hook, destination in [("tmpl", g) for g in [*given, "eu.shop.example:70000"]] + [
        ("tmpl", "http://eu.shop.example:abc/"),
        ("tp", "eu.shop.example:abc"),
    ]:
        paused = await hookd("hooks", "pause", hook, "--destination", destination, "-c", str(cfg))
        assert paused.exit_code == 2, (destination, paused.output)
        assert "is not a port number (1 to 65535)" in words(paused.output), destination
    assert not (short_dir / "hookd.db").exists()


async def test_a_wrong_port_of_a_written_port_names_the_form_hooks_list_shows(short_dir: Path) -> None:
    """1. Hook tmpl2 (`http://{{ data.tenant }}:8791/ok`: a written port).
    2. `hooks pause tmpl2 --destination localhost:80`. 3. `--destination localhost`.
    Result: (2) exit 2: the message gives localhost:8791, as hooks list shows it. (3) pauses
    localhost:8791."""
    cfg = config(short_dir)
    wrong = await hookd("hooks", "pause", "tmpl2", "--destination", "localhost:80", "-c", str(cfg))
    assert wrong.exit_code == 2, wrong.output
    text = words(wrong.output)
    assert "hook 'tmpl2' sends to port 8791 of every destination" in text
    assert "give it as hookd hooks list shows it: localhost:8791" in text
    right = await hookd("hooks", "pause", "tmpl2", "--destination", "localhost", "-c", str(cfg))
    assert right.exit_code == 0, right.output
    assert db_rows(short_dir / "hookd.db", PAUSED) == [("tmpl2", "localhost:8791")]


async def test_a_misspelt_hook_name_creates_no_database(short_dir: Path) -> None:
    """1. A config with hook tmpl; no database yet. 2. `hooks pause tmpll`. 3. `hooks pause tmpl --json`.
    Result: (2) exit 2 with a did-you-mean; no database file. (3) exit 0, database_created true."""
    cfg = config(short_dir)
    db = short_dir / "hookd.db"
    typo = await hookd("hooks", "pause", "tmpll", "-c", str(cfg))
    assert typo.exit_code == 2, typo.output
    assert "no hook named 'tmpll'" in words(typo.output) and "did you mean 'tmpl'?" in words(typo.output)
    assert not db.exists()
    right = await hookd("hooks", "pause", "tmpl", "-c", str(cfg), "--json")
    assert right.exit_code == 0, right.output
    assert orjson.loads(right.stdout)["database_created"] is True
