"""Inbound webhooks: what an http source does with a request, as pure functions the source and
`hookd test --request` share: verify the sender, read the body, map the request to an event."""
