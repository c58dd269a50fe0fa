"""Naming a place in the config the way a user recognises it: `hooks[2] (name='orders').filter`."""

from __future__ import annotations

from collections.abc import Sequence


def describe_path(path: Sequence[str | int], data: object) -> str:
    out = ""
    node: object = data
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                out += f" (name={node['name']!r})"
        else:
            out += f".{part}" if out else part
            node = node.get(part) if isinstance(node, dict) else None
    return out
