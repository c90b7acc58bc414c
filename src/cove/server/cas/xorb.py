"""Xorbs (spec §6): verify an uploaded xorb, serialize one, and read chunk ranges back.

A xorb is ``chunk_0 … chunk_{n-1}``, each an 8-byte header (version 0, u24 compressed size, scheme,
u24 uncompressed size) and its payload: raw (scheme 0), an LZ4 *frame* (1), or an LZ4 frame of the
bytes regrouped into four byte planes (2, "BG4"). Its hash is the Merkle root of its chunks' hashes
and raw sizes (§4.3).

:func:`verify_xorb` is the only integrity check of the whole system (the client checks nothing it
downloads, §6.4): it decodes every chunk, checks sizes and limits, hashes, and compares the root with
the hash in the URL, raising :class:`InvalidXetData` for anything else. It returns the
:class:`XorbIndex` the shard validator and reconstruction use: per chunk its hash, raw size and
byte offset. Decoding is lz4's C code and blake3's; Python only walks the headers.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum

import lz4.frame

from cove.server.cas.errors import InvalidXetData, XetStoreError
from cove.server.cas.hashes import HASH_LEN, ZERO_HASH, chunk_hash, merkle_root, to_hex

HEADER_LEN = 8
MAX_CHUNK_RAW = 131072  # a chunk's uncompressed size (§6.1)
MAX_XORB_RAW = 64 << 20  # raw bytes in one xorb (§6.3)
MAX_XORB_CHUNKS = 8192
MAX_XORB_BODY = MAX_XORB_RAW + 65536  # raw bytes plus 8 header bytes per chunk
_FOOTER_MAGIC = b"XETBLOB"  # xet-core's own footer; never sent by the 1.8 client (§6.2)


class Scheme(IntEnum):
    """How a chunk's payload is stored."""

    NONE = 0
    LZ4 = 1
    BG4_LZ4 = 2


@dataclass(frozen=True, slots=True)
class ChunkEntry:
    """One chunk of a stored xorb: its hash, raw size, and where its header starts."""

    hash: bytes
    size: int  # uncompressed bytes
    offset: int  # byte offset of its header in the stored xorb
    stored: int  # header + payload bytes


@dataclass(frozen=True)
class XorbIndex:
    """What the CAS keeps about a stored xorb: its hash and the list of its chunks."""

    hash: bytes
    chunks: tuple[ChunkEntry, ...]

    @property
    def raw_size(self) -> int:
        return sum(c.size for c in self.chunks)

    @property
    def stored_size(self) -> int:
        """Bytes of the stored xorb (no footer)."""
        last = self.chunks[-1]
        return last.offset + last.stored

    def nodes(self, start: int = 0, end: int | None = None) -> list[tuple[bytes, int]]:
        """``(chunk hash, size)`` of chunks ``[start, end)``."""
        return [(c.hash, c.size) for c in self.chunks[start:end]]

    def byte_range(self, start: int, end: int) -> tuple[int, int]:
        """Stored bytes ``[first, last)`` of chunks ``[start, end)`` (end-exclusive in both)."""
        if not 0 <= start < end <= len(self.chunks):
            raise InvalidXetData(f"chunk range [{start}, {end}) is outside the xorb's {len(self.chunks)} chunks")
        last = self.chunks[end - 1]
        return self.chunks[start].offset, last.offset + last.stored

    def to_bytes(self) -> bytes:
        """A compact form to store next to the xorb: the hash, then per chunk hash, size and stored length."""
        parts = [self.hash, struct.pack("<I", len(self.chunks))]
        parts += [c.hash + struct.pack("<II", c.size, c.stored) for c in self.chunks]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> XorbIndex:
        """The inverse of :meth:`to_bytes`; :class:`XetStoreError` if ``data`` is not one."""
        n = int.from_bytes(data[HASH_LEN:HASH_LEN + 4], "little")
        if len(data) != HASH_LEN + 4 + n * (HASH_LEN + 8) or n == 0:
            raise XetStoreError(f"a stored xorb index of {len(data)} bytes is damaged")
        chunks, offset, pos = [], 0, HASH_LEN + 4
        for _ in range(n):
            size, stored = struct.unpack_from("<II", data, pos + HASH_LEN)
            chunks.append(ChunkEntry(bytes(data[pos:pos + HASH_LEN]), size, offset, stored))
            offset += stored
            pos += HASH_LEN + 8
        return cls(bytes(data[:HASH_LEN]), tuple(chunks))


# --- one chunk ------------------------------------------------------------------------------------

def _bg4_split(data: bytes) -> bytes:
    return b"".join(data[i::4] for i in range(4))


def _bg4_join(planes: bytes) -> bytes:
    n = len(planes)
    out = bytearray(n)
    q, r = divmod(n, 4)
    pos = 0
    for i in range(4):  # the first n % 4 planes hold one byte more
        size = q + (1 if i < r else 0)
        out[i::4] = planes[pos:pos + size]
        pos += size
    return bytes(out)


def _lz4_decompress(payload: bytes | memoryview, size: int) -> bytes:
    d = lz4.frame.LZ4FrameDecompressor()
    try:
        out = d.decompress(bytes(payload), max_length=size + 1)  # bounded: no decompression bombs
    except RuntimeError as e:
        raise InvalidXetData(f"bad LZ4 frame: {e}") from None
    if len(out) != size or not d.eof or d.unused_data:
        got = f"at least {len(out)}" if not d.eof else str(len(out))
        raise InvalidXetData(f"LZ4 frame decodes to {got} bytes (trailing data: {bool(d.unused_data)}), "
                             f"the header says {size}")
    return out


def encode_chunk(data: bytes, scheme: Scheme | None = None) -> bytes:
    """Header + payload of one chunk. ``scheme=None`` picks LZ4 when it shrinks the chunk, else none."""
    if not 0 < len(data) <= MAX_CHUNK_RAW:
        raise ValueError(f"a chunk holds 1..{MAX_CHUNK_RAW} bytes, not {len(data)}")
    if scheme is None:
        packed = lz4.frame.compress(data)
        scheme, payload = (Scheme.LZ4, packed) if len(packed) < len(data) else (Scheme.NONE, data)
    elif scheme == Scheme.NONE:
        payload = data
    elif scheme == Scheme.LZ4:
        payload = lz4.frame.compress(data)
    else:
        payload = lz4.frame.compress(_bg4_split(data))
    n = len(payload)
    header = bytes((0, n & 0xFF, (n >> 8) & 0xFF, n >> 16, int(scheme)))
    return header + len(data).to_bytes(3, "little") + payload


def _parse_header(body: bytes | memoryview, pos: int, index: int, *, whole: bool = True,
                  base: int = 0) -> tuple[int, Scheme, int]:
    """``(compressed size, scheme, uncompressed size)`` of the chunk header at ``pos``. With
    ``whole=False`` (a body still arriving) its payload need not have arrived yet; ``base`` is the
    body offset of ``body[0]``, for the messages."""
    at = base + pos
    if len(body) - pos < HEADER_LEN:
        raise InvalidXetData(f"chunk {index} at byte {at}: truncated header ({len(body) - pos} of 8 bytes)")
    h = bytes(body[pos:pos + HEADER_LEN])
    if h[0] != 0:
        raise InvalidXetData(f"chunk {index} at byte {at}: header version {h[0]}, expected 0")
    csize = int.from_bytes(h[1:4], "little")
    usize = int.from_bytes(h[5:8], "little")
    if h[4] not in (0, 1, 2):
        raise InvalidXetData(f"chunk {index} at byte {at}: unknown compression scheme {h[4]}")
    if not 0 < usize <= MAX_CHUNK_RAW:
        raise InvalidXetData(f"chunk {index} at byte {at}: uncompressed size {usize} outside 1..{MAX_CHUNK_RAW}")
    if csize == 0:
        raise InvalidXetData(f"chunk {index} at byte {at}: empty payload")
    if whole and pos + HEADER_LEN + csize > len(body):
        raise InvalidXetData(f"chunk {index} at byte {at}: payload of {csize} bytes does not fit "
                             f"the {len(body) - pos - HEADER_LEN} bytes left")
    return csize, Scheme(h[4]), usize


def _decode_payload(payload: bytes | memoryview, scheme: Scheme, size: int, index: int) -> bytes:
    if scheme == Scheme.NONE:
        if len(payload) != size:
            raise InvalidXetData(f"chunk {index}: uncompressed payload of {len(payload)} bytes, header says {size}")
        return bytes(payload)
    try:
        data = _lz4_decompress(payload, size)
    except InvalidXetData as e:
        raise InvalidXetData(f"chunk {index}: {e.message}") from None
    return _bg4_join(data) if scheme == Scheme.BG4_LZ4 else data


# --- whole xorbs ----------------------------------------------------------------------------------

def decode_chunks(body: bytes | memoryview, *, first_index: int = 0,
                  hashes: bool = True) -> Iterator[tuple[ChunkEntry, bytes]]:
    """Decode consecutive chunks: ``(entry, raw bytes)`` each, offsets relative to ``body``.

    Stops at the end of ``body`` or at a xet-core footer. Raises :class:`InvalidXetData` on a bad
    chunk. With ``hashes=False`` the entries carry a zero hash (reading back verified data).
    """
    view = memoryview(body).cast("B")
    pos, index = 0, first_index
    while pos < len(view):
        if view[pos:pos + len(_FOOTER_MAGIC)] == _FOOTER_MAGIC:
            return
        csize, scheme, usize = _parse_header(view, pos, index)
        data = _decode_payload(view[pos + HEADER_LEN:pos + HEADER_LEN + csize], scheme, usize, index)
        yield ChunkEntry(chunk_hash(data) if hashes else ZERO_HASH, usize, pos, HEADER_LEN + csize), data
        pos += HEADER_LEN + csize
        index += 1


def verify_xorb(body: bytes | memoryview, expected: bytes) -> XorbIndex:
    """Decode and verify an uploaded xorb whose URL names ``expected`` (raw hash); return its index.

    Checks every header, decompressed size and limit (§6.3), then the Merkle root. A trailing xet-core
    footer is tolerated and left out of the index: store ``body[:index.stored_size]``.
    """
    if len(body) > MAX_XORB_BODY:
        raise InvalidXetData(f"xorb of {len(body)} bytes: the limit is {MAX_XORB_BODY}")
    chunks: list[ChunkEntry] = []
    raw = 0
    for entry, _ in decode_chunks(body):
        chunks.append(entry)
        raw += entry.size
        if len(chunks) > MAX_XORB_CHUNKS:
            raise InvalidXetData(f"xorb with more than {MAX_XORB_CHUNKS} chunks")
        if raw > MAX_XORB_RAW:
            raise InvalidXetData(f"xorb with more than {MAX_XORB_RAW} bytes of chunk data")
    if not chunks:
        raise InvalidXetData("empty xorb: no chunk before the end of the body")
    got = merkle_root([(c.hash, c.size) for c in chunks])
    if got != expected:
        raise InvalidXetData(f"xorb hash mismatch: the chunks hash to {to_hex(got)}, the URL names {to_hex(expected)}")
    return XorbIndex(got, tuple(chunks))


class XorbReceiver:
    """:func:`verify_xorb` for a body that arrives in pieces of any size (an upload being received):
    feed the pieces in order, then :meth:`finish`. Each chunk is decoded and hashed as soon as its
    last byte arrives, so at most one chunk (and the unfinished piece) is held, whatever the body's
    size. The same checks and messages as :func:`verify_xorb`; ``stored_size`` of the index it
    returns says where the chunks end (a trailing xet-core footer is left out).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # body offset of _buf[0]
        self._chunks: list[ChunkEntry] = []
        self._raw = 0
        self._footer = False
        self.received = 0

    def feed(self, data: bytes | memoryview) -> None:
        self.received += len(data)
        if self.received > MAX_XORB_BODY:
            raise InvalidXetData(f"xorb of more than {MAX_XORB_BODY} bytes: the limit is {MAX_XORB_BODY}")
        if self._footer:
            return
        self._buf += data
        view = memoryview(self._buf)
        pos = 0
        try:
            while len(view) - pos >= HEADER_LEN:
                if view[pos:pos + len(_FOOTER_MAGIC)] == _FOOTER_MAGIC:
                    self._footer = True
                    pos = len(view)
                    break
                index = len(self._chunks)
                csize, scheme, usize = _parse_header(view, pos, index, whole=False, base=self._base)
                if len(view) - pos < HEADER_LEN + csize:
                    break
                data = _decode_payload(view[pos + HEADER_LEN:pos + HEADER_LEN + csize], scheme, usize, index)
                self._chunks.append(ChunkEntry(chunk_hash(data), usize, self._base + pos, HEADER_LEN + csize))
                self._raw += usize
                if len(self._chunks) > MAX_XORB_CHUNKS:
                    raise InvalidXetData(f"xorb with more than {MAX_XORB_CHUNKS} chunks")
                if self._raw > MAX_XORB_RAW:
                    raise InvalidXetData(f"xorb with more than {MAX_XORB_RAW} bytes of chunk data")
                pos += HEADER_LEN + csize
        finally:
            view.release()
        del self._buf[:pos]
        self._base += pos

    def finish(self, expected: bytes) -> XorbIndex:
        """The index of the whole body, once every piece was fed; refuses as :func:`verify_xorb` does."""
        if self._buf and not self._footer:
            _parse_header(self._buf, 0, len(self._chunks), base=self._base)  # raises: truncated
            raise InvalidXetData(f"xorb truncated after {self.received} bytes")
        if not self._chunks:
            raise InvalidXetData("empty xorb: no chunk before the end of the body")
        got = merkle_root([(c.hash, c.size) for c in self._chunks])
        if got != expected:
            raise InvalidXetData(f"xorb hash mismatch: the chunks hash to {to_hex(got)}, "
                                 f"the URL names {to_hex(expected)}")
        return XorbIndex(got, tuple(self._chunks))


def serialize_xorb(chunks: Iterable[bytes], scheme: Scheme | None = None) -> tuple[bytes, XorbIndex]:
    """Serialize raw chunks into a footerless xorb (as the client uploads it) and its index."""
    parts: list[bytes] = []
    entries: list[ChunkEntry] = []
    offset = 0
    for data in chunks:
        enc = encode_chunk(data, scheme)
        entries.append(ChunkEntry(chunk_hash(data), len(data), offset, len(enc)))
        parts.append(enc)
        offset += len(enc)
    if not entries:
        raise ValueError("a xorb holds at least one chunk")
    if len(entries) > MAX_XORB_CHUNKS or sum(e.size for e in entries) > MAX_XORB_RAW:
        raise ValueError("too many chunks or bytes for one xorb: split them (see pack_chunks)")
    index = XorbIndex(merkle_root([(e.hash, e.size) for e in entries]), tuple(entries))
    return b"".join(parts), index


def decode_range(stored: bytes | memoryview, index: XorbIndex, start: int, end: int) -> Iterator[bytes]:
    """Raw bytes of chunks ``[start, end)`` from ``stored``, the bytes of :meth:`XorbIndex.byte_range`.

    Each chunk is checked against the index (size and header), not re-hashed: the xorb was verified
    when it was stored. Damage raises :class:`XetStoreError` (a server fault, 500).
    """
    expected = index.chunks[start:end]
    got = 0
    name = f"stored xorb {to_hex(index.hash)}"
    try:
        for entry, data in decode_chunks(stored, first_index=start, hashes=False):
            if got == len(expected) or entry.size != expected[got].size or entry.stored != expected[got].stored:
                raise XetStoreError(f"{name} does not match its index at chunk {start + got}")
            got += 1
            yield data
    except InvalidXetData as e:
        raise XetStoreError(f"{name}: {e.message}") from None
    if got != len(expected):
        raise XetStoreError(f"{name}: {got} of {len(expected)} chunks read")


def pack_chunks(chunks: Iterable[bytes]) -> Iterator[list[bytes]]:
    """Group raw chunks, in order, into lists that each fit one xorb (§6.3 limits)."""
    group: list[bytes] = []
    raw = 0
    for data in chunks:
        if group and (len(group) == MAX_XORB_CHUNKS or raw + len(data) > MAX_XORB_RAW):
            yield group
            group, raw = [], 0
        group.append(data)
        raw += len(data)
    if group:
        yield group
