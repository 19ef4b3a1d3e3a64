"""One way for the sandbox's HTTP servers to listen: on a loopback port, a free one when asked for 0."""

from __future__ import annotations

from aiohttp import web


async def serve(runner: web.BaseRunner, port: int, host: str = "127.0.0.1") -> int:
    """Set up ``runner`` and listen on ``host:port``; returns the port actually bound."""
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else port
