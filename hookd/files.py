"""What kind of file a path is, in words, for messages that refuse a path (pure)."""

from __future__ import annotations

import stat


def file_kind(mode: int) -> str:
    """`a directory`, `a FIFO (named pipe)`, … for an `os.stat` mode."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "an unusual kind of file"
