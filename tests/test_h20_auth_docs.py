"""The docs cover every key of a hook's `auth:` block that the schema accepts."""

from __future__ import annotations

import json
import re

from tests.test_docs import MAN5, ROOT

AUTH_TYPES = ("bearer", "basic", "api_key", "oauth2", "jwt")


def auth_keys() -> dict[str, set[str]]:
    schema = json.loads((ROOT / "hookd" / "config" / "schema.json").read_text(encoding="utf-8"))
    return {kind: set(schema["$defs"][f"auth_{kind}"]["properties"]) - {"type"} for kind in AUTH_TYPES}


def test_the_man_page_names_every_auth_type_and_key() -> None:
    """man/hookd.yaml.5 has a `type: <kind>` entry for each auth type, naming each of its keys in bold."""
    text = MAN5.read_text(encoding="utf-8")
    entries = text.split(".B type: ")
    for kind, keys in auth_keys().items():
        [entry] = [e for e in entries if e.startswith(kind + "\n")]
        entry = entry.split(".TP")[0]
        for key in keys:
            found = re.search(rf"^\.BR? {key}\b", entry, re.M)
            assert found, f"auth type {kind}: {key!r} is missing from man/hookd.yaml.5"


def test_the_readme_security_section_and_reference_cover_every_auth_key() -> None:
    """README.md has `## Security` / `### Endpoint authentication` showing each auth type, and the
    configuration reference lists every key."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    security = readme.split("## Security\n", 1)[1].split("\n## ", 1)[0]
    assert "### Endpoint authentication" in security
    for kind in AUTH_TYPES:
        assert f"type: {kind}" in security
    reference = readme.split("## Configuration reference\n", 1)[1].split("\n## ", 1)[0]
    for keys in auth_keys().values():
        for key in keys:
            assert f"`hooks[].auth.{key}`" in reference or f"`.{key}`" in reference, key
