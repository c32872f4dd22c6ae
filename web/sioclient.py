"""A minimal socket.io (protocol v5, Engine.IO v4) client over aiohttp websockets.

Runs on Python 3.10 (the Rasa environment) and 3.11 (the actions environment).

Used by the tests and the benchmark to talk to the web chat channel exactly as the widget does
(``session_request`` → ``session_confirm``, ``user_uttered`` → ``bot_uttered``) without a
browser and without python-socketio (which the Python 3.11 environment does not have). It also
sends what a browser never would (raw frames), to check the server's handling of hostile input.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp


class SocketIOError(RuntimeError):
    """The server refused the connection or broke the protocol."""


class SocketIOClient:
    """One socket.io connection on the default namespace; events are queued as they arrive."""

    def __init__(self, base_url: str, path: str = "/webhooks/webchat/socket.io") -> None:
        self.base_url = base_url.rstrip("/")
        self.path = "/" + path.strip("/") + "/"
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def connect(self, timeout: float = 10.0) -> None:
        url = self.base_url.replace("http", "ws", 1) + self.path + "?EIO=4&transport=websocket"
        self.session = aiohttp.ClientSession()
        try:
            self.ws = await asyncio.wait_for(self.session.ws_connect(url), timeout)
            opening = await asyncio.wait_for(self.ws.receive_str(), timeout)
            if not opening.startswith("0"):
                raise SocketIOError(f"expected an Engine.IO open packet, got {opening[:80]!r}")
            await self.ws.send_str("40")
            connected = await asyncio.wait_for(self._next_packet(), timeout)
            if not connected.startswith("40"):
                raise SocketIOError(f"namespace connect refused: {connected[:80]!r}")
        except BaseException:
            await self.close()
            raise
        self._reader = asyncio.create_task(self._read())

    async def _next_packet(self) -> str:
        assert self.ws is not None
        while True:
            packet = await self.ws.receive_str()
            if packet == "2":  # Engine.IO ping
                await self.ws.send_str("3")
                continue
            return packet

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                packet = message.data
                if packet == "2":
                    await self.ws.send_str("3")
                elif packet.startswith("42"):
                    name, *args = json.loads(packet[2:])
                    await self.events.put((name, args[0] if args else None))
                elif packet.startswith("41") or packet.startswith("1"):
                    break
        finally:
            self.closed.set()

    async def emit(self, event: str, data: Any) -> None:
        await self.send_raw("42" + json.dumps([event, data], ensure_ascii=False))

    async def send_raw(self, packet: str) -> None:
        """Sends a raw Engine.IO packet (``42[...]`` is a socket.io event)."""
        if self.ws is None:
            raise SocketIOError("not connected")
        await self.ws.send_str(packet)

    async def wait_for(self, event: str, timeout: float = 30.0) -> Any:
        """The data of the next ``event``; other events before it are dropped. Raises
        :class:`TimeoutError` when none came within ``timeout`` seconds."""

        async def next_matching() -> Any:
            while True:
                name, data = await self.events.get()
                if name == event:
                    return data

        try:
            return await asyncio.wait_for(next_matching(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no {event!r} within {timeout} s") from None

    async def collect(self, event: str, quiet: float = 1.5, timeout: float = 30.0) -> list[Any]:
        """Every ``event`` until none came for ``quiet`` seconds (after the first one)."""
        first = await self.wait_for(event, timeout)
        found = [first]
        while True:
            try:
                found.append(await self.wait_for(event, quiet))
            except TimeoutError:
                return found

    async def start_session(self, session_id: str | None, timeout: float = 10.0) -> Any:
        await self.emit("session_request", {"session_id": session_id})
        return await self.wait_for("session_confirm", timeout)

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.send_str("41")
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self.session is not None:
            await self.session.close()
        self.ws = None
        self.session = None

    async def __aenter__(self) -> SocketIOClient:
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
