"""Name resolution for clients that talk to the replay server instead of the internet."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from newsline.testing.replay import ReplayServer


class LoopbackResolver(AbstractResolver):
    """Every host name resolves to the replay server; port 80/443 map to its two ports."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        mapped = {80: self.server.http_port, 443: self.server.https_port}.get(port, port)
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=mapped,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None
