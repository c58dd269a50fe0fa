"""A stand-in webhook receiver for the Quick start: prints every request hookd sends it."""

from __future__ import annotations

import argparse
import sys

from aiohttp import web


async def receive(request: web.Request) -> web.Response:
    body = await request.text()
    print(
        f"receiver: {request.method} {request.path} webhook-id={request.headers.get('webhook-id')} "
        f"attempt={request.headers.get('hookd-attempt')} body={body}",
        flush=True,
    )
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8781)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receive)
    print(f"receiver: listening on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
