"""The server's listening socket: responses are not held back by Nagle's algorithm."""

from __future__ import annotations

import asyncio
import socket

from shipyard.api.server import bind_socket


def test_accepted_connections_get_tcp_nodelay() -> None:
    """asyncio sets TCP_NODELAY only on sockets created as IPPROTO_TCP; without it a
    response whose body follows its headers waited ~40 ms for the client's delayed ACK."""

    async def nodelay_of_accepted() -> int:
        listener = bind_socket("127.0.0.1", 0)
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connection(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connection, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            value = await asyncio.wait_for(accepted, 10)
            writer.close()
            return value

    assert asyncio.run(nodelay_of_accepted()) != 0
