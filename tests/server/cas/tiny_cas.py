"""A throwaway Xet CAS on 127.0.0.1 for the real-client tests: the routes of spec §10 (plus global dedup
and, when asked, v2 reconstructions) written directly on top of ``cove.server.cas``, with stdlib
``http.server``. No tokens are checked beyond their presence; every request is logged so the tests can
see what the client sent (xorb bodies and shard bodies are kept verbatim)."""

from __future__ import annotations

import json
import re
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from cove.errors import CoveError
from cove.server.cas.dedup import MemoryDedupIndex, answer_query, dedup_entries
from cove.server.cas.hashes import from_hex, to_hex
from cove.server.cas.reconstruct import parse_range, plan_range, reconstruction_v1, reconstruction_v2
from cove.server.cas.shard import FileRecord, parse_shard, validate_shard
from cove.server.cas.store import CasStore, MemoryStore

HASH = r"([0-9a-fA-F]{64})"


@dataclass
class CasState:
    cas: CasStore = field(default_factory=lambda: CasStore(MemoryStore()))
    files: dict[bytes, FileRecord] = field(default_factory=dict)
    dedup: MemoryDedupIndex = field(default_factory=MemoryDedupIndex)
    xorb_uploads: list[tuple[bytes, bytes]] = field(default_factory=list)  # (hash, body) as received
    shard_uploads: list[bytes] = field(default_factory=list)
    log: list[tuple[str, str, int, dict]] = field(default_factory=list)  # method, path, status, headers (lower)
    v2: bool = False  # answer /v2/reconstructions (else 404 -> the client uses v1)
    global_dedup: bool = True
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, record: FileRecord) -> None:
        self.files[record.hash] = record


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: CasState  # set on a subclass per server

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes = b"", ctype: str = "application/json", extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        with self.state.lock:
            self.state.log.append((self.command, self.path, status, {k.lower(): v for k, v in self.headers.items()}))

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode())

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        try:
            if m := re.fullmatch(rf"/v1/xorbs/[^/]+/{HASH}", path):
                self.state.xorb_uploads.append((from_hex(m[1]), body))
                _, inserted = self.state.cas.put_xorb(from_hex(m[1]), body)
                return self._json(200, {"was_inserted": inserted})
            if path == "/v1/shards":
                self.state.shard_uploads.append(body)
                shard = validate_shard(parse_shard(body), self.state.cas.index)
                for f in shard.files:
                    self.state.register(f)
                self.state.dedup.add(dedup_entries(shard, self.state.cas.index))
                return self._json(200, {"result": 1})
        except CoveError as e:
            return self._json(e.status, {"error": e.message})
        return self._json(404, {"error": "not found"})  # grants, v2 shards, telemetry, anything else

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        st = self.state
        try:
            if m := re.fullmatch(rf"/v1/chunks/[^/]+/{HASH}", url.path):
                answer = answer_query(from_hex(m[1]), st.dedup.find, st.cas.index) if st.global_dedup else None
                if answer is None:
                    return self._json(404, {"error": "no match"})
                return self._send(200, answer, "application/octet-stream")
            if m := re.fullmatch(rf"/v([12])/reconstructions/{HASH}", url.path):
                record = st.files.get(from_hex(m[2]))
                if record is None or (m[1] == "2" and not st.v2):
                    return self._json(404, {"error": "not found"})
                s, e = parse_range(self.headers.get("Range"), record.size)
                plan = plan_range(record.terms, st.cas.index, s, e)
                build = reconstruction_v2 if m[1] == "2" else reconstruction_v1
                return self._json(200, build(plan, st.cas.index, self._fetch_url))
            if m := re.fullmatch(rf"/fetch/{HASH}", url.path):
                if "authorization" in {k.lower() for k in self.headers}:
                    return self._json(400, {"error": "fetch URLs carry no authorization"})
                index = st.cas.index(from_hex(m[1]))
                r = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
                if index is None or r is None:
                    return self._json(404 if index is None else 400, {"error": "bad fetch"})
                first, last = int(r[1]), min(int(r[2]), index.stored_size - 1)
                data = st.cas.read(index.hash, first, last + 1)
                return self._send(206, data, "application/octet-stream",
                                  {"Content-Range": f"bytes {first}-{last}/{index.stored_size}"})
        except CoveError as e:
            return self._json(e.status, {"error": e.message})
        return self._json(404, {"error": "not found"})

    def _fetch_url(self, xorb: bytes, first: int, last: int) -> str:
        return f"{self.state.base}/fetch/{to_hex(xorb)}?r={first}-{last}"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the client hung up (telemetry): fine
            super().handle_error(request, client_address)


def start(state: CasState) -> tuple[ThreadingHTTPServer, str]:
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = Server(("127.0.0.1", 0), handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state.base
