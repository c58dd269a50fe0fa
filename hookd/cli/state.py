"""Global CLI options, in a module of their own so any command module can read them without a cycle."""

from __future__ import annotations


class _State:
    debug = False  # --debug: tracebacks for errors


state = _State()
