"""hookd: a webhook daemon. Events in, durably stored, routed by YAML, delivered over HTTP."""

__version__ = "0.1.0"
