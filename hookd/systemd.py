"""systemd's readiness protocol (sd_notify): under `Type=notify`, hookd tells the service manager when
it is ready, reloading and stopping, over the datagram socket named in $NOTIFY_SOCKET. Without the
variable (not under systemd) every call does nothing."""

from __future__ import annotations

import contextlib
import logging
import os
import socket

log = logging.getLogger("hookd")


def notify(*fields: str) -> bool:
    """Send `fields` ("READY=1", "STATUS=...") as one message; whether it was sent. Never raises: a
    service manager that went away must not stop hookd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket: its name starts with a NUL byte
        address = "\0" + address[1:]
    message = "\n".join(fields).encode("utf-8", errors="replace")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError as e:
        with contextlib.suppress(Exception):
            log.warning("cannot tell systemd %s (NOTIFY_SOCKET): %s", fields[0] if fields else "", e.strerror or e)
        return False
    return True
