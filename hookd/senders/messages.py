"""The messages between the daemon and its delivery worker (hookd.senders.worker), one class each.

They travel pickled over a private socketpair, both ends being this install, so they are plain
dataclasses: a field added here is seen by both sides at once, with no positional tuple to keep in
step. Pickling a dataclass costs ~0.5 µs more per message than a tuple did (round trip, both
processes together): under 1% of a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hookd.logs import LogLine
from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.endpoint import EndpointSpec

# daemon -> worker


@dataclass(slots=True)
class Configure:
    """First message, and again whenever the endpoints change (reload): how to talk to each hook."""

    max_connections: int
    user_agent: str
    endpoints: Mapping[str, EndpointSpec]


@dataclass(slots=True)
class Send:
    rid: int
    request: OutboundRequest


@dataclass(slots=True)
class Cancel:
    rid: int


# worker -> daemon


@dataclass(slots=True)
class Ready:
    """Once, after the worker's HTTP client started."""

    pid: int


@dataclass(slots=True)
class Answer:
    rid: int
    outcome: Outcome


@dataclass(slots=True)
class Log:
    """A log record of the worker's, logged by the daemon in its own format."""

    levelno: int
    logger: str
    message: str | LogLine
    traceback: str | None


ToWorker = Configure | Send | Cancel
FromWorker = Ready | Answer | Log
Message = ToWorker | FromWorker
