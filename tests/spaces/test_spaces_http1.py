"""The proxy's HTTP/1.1 client (cove.server.spaces.http1) against a real threaded HTTP/1.1 server:
connections kept alive and reused, a pooled connection the server closed is retried on a new one,
a chunked request body arrives whole, a streamed answer arrives piece by piece before it ends, HEAD."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time

import pytest

from cove.server.spaces.http1 import Pool, UpstreamError


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set = set()

    def setup(self) -> None:
        super().setup()
        Handler.connections.add(self.client_address)

    def do_GET(self) -> None:
        if self.path == "/stream":  # chunked, a piece every 0.3 s
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                data = f"event {i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(0.3)
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/close":  # answers as if keeping the connection, then closes it
            self.close_connection = True
        self._send(b"hello " + self.path.encode())

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                chunk = self.rfile.read(size + 2)[:-2]
                if not size:
                    break
                body += chunk
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(b"got " + body)

    def _send(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def port():
    Handler.connections = set()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


async def fetch(pool: Pool, port: int, method: str, path: str, body=None, length=None) -> tuple[int, bytes]:
    answer = await pool.request(port, method, path, [(b"x-test", b"1")], body, length)
    try:
        return answer.status, b"".join([c async for c in answer.body()])
    finally:
        answer.release()


def test_kept_alive_retried_chunked_streamed_and_head(port):
    async def main() -> None:
        pool = Pool()
        assert await fetch(pool, port, "GET", "/a") == (200, b"hello /a")
        assert await fetch(pool, port, "GET", "/b") == (200, b"hello /b")
        assert len(Handler.connections) == 1  # the second request reused the first's connection
        assert await fetch(pool, port, "GET", "/close") == (200, b"hello /close")
        assert await fetch(pool, port, "GET", "/c") == (200, b"hello /c")  # a new connection, no error
        assert len(Handler.connections) == 2

        async def pieces():
            for part in (b"one ", b"two ", b"three"):
                yield part
        assert await fetch(pool, port, "POST", "/up", pieces(), None) == (200, b"got one two three")
        assert await fetch(pool, port, "POST", "/up", pieces(), 13) == (200, b"got one two three")
        assert await fetch(pool, port, "HEAD", "/h") == (200, b"")

        answer = await pool.request(port, "GET", "/stream", [], None, None)
        arrivals = []
        async for chunk in answer.body():
            arrivals.append((time.monotonic(), chunk))
        answer.release()
        assert b"".join(c for _, c in arrivals) == b"event 0\nevent 1\nevent 2\n"
        assert arrivals[-1][0] - arrivals[0][0] > 0.4  # handed on as they came, not at the end
        pool.close()
        with pytest.raises(UpstreamError):
            await fetch(Pool(), 1, "GET", "/")  # nothing listens on port 1

    asyncio.run(main())
