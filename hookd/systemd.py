"""systemd's readiness protocol (sd_notify): under `Type=notify`, hookd tells the service manager when
it is ready, reloading and stopping, over the datagram socket named in $NOTIFY_SOCKET. Without the
variable (not under systemd) every call does nothing.

The send never blocks: it runs on the event loop, and a notify socket whose queue is full (a service
manager that is stuck or slow) must not stop the daemon's sources and deliveries with it. A message
that cannot go at once is dropped and said once."""

from __future__ import annotations

import contextlib
import logging
import os
import socket

log = logging.getLogger("hookd")

_said_full = False  # whether the first message dropped for a full queue was logged (later ones: debug)


def notify(*fields: str) -> bool:
    """Send `fields` ("READY=1", "STATUS=...") as one message; whether it was sent. Never raises and
    never waits: a service manager that went away, or does not read, must not stop hookd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket: its name starts with a NUL byte
        address = "\0" + address[1:]
    message = "\n".join(fields).encode("utf-8", errors="replace")
    what = fields[0] if fields else ""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
            sock.connect(address)
            sock.send(message)
    except BlockingIOError:
        _said_dropped(what)
        return False
    except OSError as e:
        with contextlib.suppress(Exception):
            log.warning("cannot tell systemd %s (NOTIFY_SOCKET): %s", what, e.strerror or e)
        return False
    return True


def _said_dropped(what: str) -> None:
    global _said_full
    with contextlib.suppress(Exception):
        if _said_full:
            log.debug("systemd's notify socket is still full; %s not sent", what)
            return
        _said_full = True
        log.warning(
            "systemd's notify socket (NOTIFY_SOCKET) is full, so %s was not sent; hookd goes on without "
            "waiting (said once; later ones at debug level)",
            what,
        )
