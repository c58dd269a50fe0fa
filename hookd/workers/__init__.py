"""What hookd's worker processes share, whatever they do: the framed channel over a socketpair
(hookd.workers.channel) and the forwarding of their log records to the daemon (hookd.workers.logs).
The delivery worker (hookd.senders.worker) and the http worker (hookd.sources.http_worker) build on
it; it imports neither."""
