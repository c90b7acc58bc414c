"""A small HTTP/1.1 client for the proxy's hop to a Space's app on 127.0.0.1: kept-alive connections
pooled per port, the response parsed by httptools (uvicorn's C parser) and handed on chunk by chunk as it
arrives (server-sent events stay live), the request body streamed through. It does what the proxy needs
and no more (no TLS, no redirects, no cookies); httpx's pure-Python path cost the proxy half its speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httptools

#: Seconds an idle connection is reused (uvicorn, which Gradio runs on, closes them after 5 s).
IDLE_SECONDS = 4.0
#: Idle connections kept per app.
POOL_SIZE = 32


class UpstreamError(Exception):
    """The app did not answer (refused, closed early, or sent what is not HTTP)."""


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    def close(self) -> None:
        self.writer.close()


class Answer:
    """A response whose head has arrived; iterate :meth:`body` for the rest, then :meth:`release`."""

    def __init__(self, pool: Pool, port: int, conn: _Conn, parser, state: dict, head_only: bool) -> None:
        self._pool, self._port, self._conn, self._parser, self._state = pool, port, conn, parser, state
        self.status: int = parser.get_status_code()
        self.headers: list[tuple[bytes, bytes]] = state["headers"]
        self._head_only = head_only

    async def body(self) -> AsyncIterator[bytes]:
        state = self._state
        if self._head_only or self.status in (204, 304) or 100 <= self.status < 200:
            state["done"] = True
        while True:
            if state["chunks"]:
                chunks, state["chunks"] = state["chunks"], []
                for c in chunks:
                    yield c
            if state["done"]:
                return
            data = await self._conn.reader.read(65536)
            if not data:
                state["done"], state["closed"] = True, True  # a body ended by closing the connection
                continue
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserError as e:
                raise UpstreamError(f"the app's answer is not HTTP: {e}") from None

    def release(self) -> None:
        """Back to the pool if the answer was read to its end and the connection may be kept, else closed."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        state = self._state
        if state["done"] and not state["closed"] and state["keep_alive"] and not self._head_only:
            self._pool.put(self._port, conn)
        else:
            conn.close()


class Pool:
    def __init__(self) -> None:
        self._idle: dict[int, list[_Conn]] = {}

    def put(self, port: int, conn: _Conn) -> None:
        conns = self._idle.setdefault(port, [])
        if len(conns) >= POOL_SIZE:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conns.append(conn)

    def _take(self, port: int) -> _Conn | None:
        conns = self._idle.get(port)
        now = time.monotonic()
        while conns:
            conn = conns.pop()
            if now - conn.idle_since < IDLE_SECONDS and not conn.reader.at_eof():
                return conn
            conn.close()
        return None

    async def request(self, port: int, method: str, target: str, headers: list[tuple[bytes, bytes]],
                      body: AsyncIterator[bytes] | None, length: int | None) -> Answer:
        """Send the request (``body`` of ``length`` bytes, or chunked when the length is unknown) and
        return once the answer's head has arrived. A pooled connection the app closed meanwhile is
        retried once on a new one when no body byte was sent yet."""
        head = [f"{method} {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n".encode()]
        for name, value in headers:
            head.append(name + b": " + value + b"\r\n")
        if body is not None:
            head.append(b"content-length: %d\r\n" % length if length is not None else b"transfer-encoding: chunked\r\n")
        head.append(b"\r\n")
        raw_head = b"".join(head)
        for attempt in (0, 1):
            conn = self._take(port) if attempt == 0 else None
            reused = conn is not None
            if conn is None:
                try:
                    conn = _Conn(*await asyncio.open_connection("127.0.0.1", port))
                except OSError as e:
                    raise UpstreamError(f"cannot connect: {e}") from None
            try:
                return await self._exchange(port, conn, method, raw_head, body, length)
            except (ConnectionError, asyncio.IncompleteReadError, _Stale) as e:
                conn.close()
                if reused and body is None and isinstance(e, _Stale | ConnectionError):
                    continue
                raise UpstreamError(f"the app closed the connection: {type(e).__name__}") from None
            except BaseException:
                conn.close()
                raise
        raise UpstreamError("the app closed the connection")

    async def _exchange(self, port: int, conn: _Conn, method: str, raw_head: bytes,
                        body: AsyncIterator[bytes] | None, length: int | None) -> Answer:
        conn.writer.write(raw_head)
        if body is not None:
            async for chunk in body:
                if not chunk:
                    continue
                conn.writer.write(chunk if length is not None else b"%x\r\n%b\r\n" % (len(chunk), chunk))
                await conn.writer.drain()
            if length is None:
                conn.writer.write(b"0\r\n\r\n")
        await conn.writer.drain()
        state: dict = {"headers": [], "chunks": [], "head": False, "done": False, "closed": False, "keep_alive": False}
        callbacks = _Callbacks(state)
        parser = callbacks.parser = httptools.HttpResponseParser(callbacks)
        got_any = False
        while not state["head"]:
            data = await conn.reader.read(65536)
            if not data:
                if not got_any:
                    raise _Stale()
                raise ConnectionError("closed before the answer's head")
            got_any = True
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as e:
                raise UpstreamError(f"the app's answer is not HTTP: {e}") from None
        return Answer(self, port, conn, parser, state, head_only=method == "HEAD")

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


class _Stale(Exception):
    """A pooled connection closed by the app before it answered."""


class _Callbacks:
    def __init__(self, state: dict) -> None:
        self.state = state
        self.parser = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.state["headers"].append((name, value))

    def on_headers_complete(self) -> None:
        self.state["head"] = True

    def on_body(self, body: bytes) -> None:
        self.state["chunks"].append(body)

    def on_message_complete(self) -> None:
        self.state["done"] = True
        self.state["keep_alive"] = self.parser.should_keep_alive()  # only known here: reset once parsed
