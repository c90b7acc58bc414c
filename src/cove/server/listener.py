"""The HTTP/1.1 connection handler ``cove serve`` runs: uvicorn's httptools protocol, with the request
head (request line and headers) bounded.

httptools accepts a request head of any length and uvicorn keeps all of it: one connection that sends
300 MB of header bytes, or a million small headers, grew the server by 0.5 to 1.6 GB. Here the bytes
of a head that is still incomplete are counted as they arrive; past ``max_request_head_bytes``
(``COVE_MAX_REQUEST_HEAD_BYTES``, uvicorn's ``h11_max_incomplete_event_size`` carries it to each
connection) the connection gets ``431 Request Header Fields Too Large`` and is closed, holding at most
the limit and one read (256 KiB) in memory. Bodies are not counted: routes bound them.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEAD = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        self.max_head = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD
        self.head_bytes = 0  # bytes of the current, still incomplete, request head
        self.in_head = True  # between a message's end (or the connection's start) and its headers' end
        self.messages = 0
        self.refused = False

    def on_headers_complete(self) -> None:
        self.in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.in_head, self.head_bytes = True, 0
        self.messages += 1
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        head_before, messages_before = self.in_head, self.messages
        super().data_received(data)
        # Only a read that neither began nor ended a head is all head bytes; a read that did holds at
        # most one read's worth of them, counted from the next read on.
        if head_before and self.in_head and self.messages == messages_before:
            self.head_bytes += len(data)
            if self.head_bytes > self.max_head:
                self.refuse()

    def refuse(self) -> None:
        self.refused = True
        msg = f"The request line and headers are over {self.max_head} bytes".encode()
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(msg), msg))
        self.transport.close()
