"""Shards (spec §7): parse and validate uploads, serialize shards with lookup tables and footer.

A shard is a 48-byte header, a file info section (per file: its terms, their verification hashes, its
sha256), a CAS info section (per new xorb: its chunk list), each closed by a bookend record, and,
only in dedup responses, three lookup tables and a 200-byte footer. Every record is 48 bytes; all
integers are little-endian; hashes are raw 32 bytes.

* :func:`parse_shard` checks the structure only (tag, version, counts that fit, bookends, no
  duplicates, nothing after the CAS section unless a footer says so).
* :func:`validate_shard` checks it against the stored xorbs (§7.3), through a ``lookup`` callback
  that returns the :class:`~cove.server.cas.xorb.XorbIndex` of a stored xorb or ``None``.
* :func:`serialize_shard` writes the upload form (no footer) or the full form of §7.4 that a global
  dedup response carries (§7.5).

Every refusal is :class:`InvalidXetData` with the file or xorb it is about.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from cove.server.cas.errors import InvalidXetData
from cove.server.cas.hashes import (
    HASH_LEN,
    ZERO_HASH,
    file_hash,
    keyed_chunk_hash,
    to_hex,
    verification_hash,
    w0,
)
from cove.server.cas.xorb import XorbIndex

SHARD_TAG = b"HFRepoMetaData\x00" + bytes([85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217,
                                           92, 205, 209, 74, 169])
SHARD_VERSION = 2
FOOTER_VERSION = 1
HEADER_LEN = 48
RECORD_LEN = 48
FOOTER_LEN = 200
FLAG_VERIFICATION = 1 << 31  # file header: verification entries follow the terms
FLAG_METADATA_EXT = 1 << 30  # file header: a FileMetadataExt (sha256) follows
CHUNK_FLAG_GLOBAL_DEDUP = 1 << 31  # CAS chunk entry: register for global dedup
_BOOKEND_HASH = b"\xff" * HASH_LEN
BOOKEND = _BOOKEND_HASH + bytes(16)
# Work bound of one shard: chunks referenced by all its terms (a 1 TB file at 64 KiB is 2**24).
MAX_CHUNK_REFS = 1 << 24

_HEADER = struct.Struct("<32sQQ")
_FILE_HEADER = struct.Struct("<32sIIQ")  # file_hash, flags, num_entries, unused
_TERM = struct.Struct("<32sIIII")  # xorb_hash, xorb_flags, unpacked bytes, chunk start, chunk end
_XORB_HEADER = struct.Struct("<32sIIII")  # xorb_hash, flags, num_entries, raw bytes, bytes on disk
_CHUNK = struct.Struct("<32sIIII")  # chunk_hash, raw byte offset, raw size, flags, unused
_FOOTER = struct.Struct("<9Q32sQQ6QQQQQ")
_KEY_U32 = struct.Struct("<QI")
_KEY_U32_U32 = struct.Struct("<QII")
_WORDS = struct.Struct("<4Q")


def hash_order(h: bytes) -> tuple[int, ...]:
    """Sort key of a hash as xet-core orders them (four u64 words, i.e. by its hex text)."""
    return _WORDS.unpack(h)


@dataclass(frozen=True, slots=True)
class Term:
    """Chunks ``[start, end)`` of a xorb, holding ``size`` bytes of the file."""

    xorb: bytes
    start: int
    end: int
    size: int


@dataclass(frozen=True)
class FileRecord:
    """One file of a shard: its file ID, terms in order, verification hashes, sha256 (raw, §7.1)."""

    hash: bytes
    terms: tuple[Term, ...]
    verification: tuple[bytes, ...] | None = None
    sha256: bytes | None = None

    @property
    def size(self) -> int:
        return sum(t.size for t in self.terms)


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """One chunk of a CAS info block: hash, raw offset in the xorb, raw size, flags."""

    hash: bytes
    offset: int
    size: int
    flags: int = 0


@dataclass(frozen=True)
class XorbRecord:
    """One CAS info block: a xorb and its chunk list."""

    hash: bytes
    chunks: tuple[ChunkRecord, ...]
    raw_size: int
    bytes_on_disk: int = 0

    @classmethod
    def from_index(cls, index: XorbIndex, *, hmac_key: bytes = ZERO_HASH, bytes_on_disk: int = 0) -> XorbRecord:
        """The CAS block of a stored xorb; with an HMAC key, its chunk hashes are keyed (§4.6, §7.5).

        ``bytes_on_disk`` is 0 in the shards the 1.8 client uploads.
        """
        chunks, offset = [], 0
        for c in index.chunks:
            chunks.append(ChunkRecord(keyed_chunk_hash(c.hash, hmac_key), offset, c.size))
            offset += c.size
        return cls(index.hash, tuple(chunks), offset, bytes_on_disk)


@dataclass(frozen=True)
class Footer:
    """The 200-byte footer of a full shard (§7.4): offsets, counts, HMAC key and times."""

    file_info_offset: int
    xorb_info_offset: int
    file_lookup_offset: int
    file_lookup_num: int
    xorb_lookup_offset: int
    xorb_lookup_num: int
    chunk_lookup_offset: int
    chunk_lookup_num: int
    hmac_key: bytes
    creation_ts: int
    key_expiry: int
    stored_bytes_on_disk: int
    materialized_bytes: int
    stored_bytes: int
    footer_offset: int


@dataclass(frozen=True)
class Shard:
    """A parsed shard: its files and CAS blocks in order; the footer of the full form, else None."""

    files: tuple[FileRecord, ...]
    xorbs: tuple[XorbRecord, ...]
    footer: Footer | None = None


# --- parsing --------------------------------------------------------------------------------------

class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body, self.pos = body, 0

    def records_left(self) -> int:
        return (len(self.body) - self.pos) // RECORD_LEN

    def take_many(self, fmt: struct.Struct, n: int) -> Iterator[tuple]:
        """``n`` records (the caller checked they fit)."""
        start, self.pos = self.pos, self.pos + n * fmt.size
        return fmt.iter_unpack(memoryview(self.body)[start:self.pos])

    def take(self, fmt: struct.Struct, what: str) -> tuple:
        if len(self.body) - self.pos < fmt.size:
            raise InvalidXetData(f"shard truncated in {what} at byte {self.pos}")
        out = fmt.unpack_from(self.body, self.pos)
        self.pos += fmt.size
        return out


def _parse_file(r: _Reader, fhash: bytes, flags: int, n: int) -> FileRecord:
    name = f"file {to_hex(fhash)}"
    if flags & ~(FLAG_VERIFICATION | FLAG_METADATA_EXT):
        raise InvalidXetData(f"{name}: unknown flags {flags:#010x}")
    following = n * (2 if flags & FLAG_VERIFICATION else 1) + (1 if flags & FLAG_METADATA_EXT else 0)
    if following > r.records_left():
        raise InvalidXetData(f"{name}: {n} terms announced, the shard is too short for them")
    terms = tuple(Term(xorb, start, end, size) for xorb, _xflags, size, start, end in r.take_many(_TERM, n))
    verification = None
    if flags & FLAG_VERIFICATION:
        verification = tuple(rec[0] for rec in r.take_many(_FILE_HEADER, n))
    sha256 = r.take(_FILE_HEADER, name)[0] if flags & FLAG_METADATA_EXT else None
    return FileRecord(fhash, terms, verification, sha256)


def _parse_xorb(r: _Reader, xhash: bytes, n: int, raw: int, on_disk: int) -> XorbRecord:
    if n > r.records_left():
        raise InvalidXetData(f"xorb {to_hex(xhash)}: {n} chunks announced, the shard is too short for them")
    chunks = tuple(ChunkRecord(chash, offset, size, flags)
                   for chash, offset, size, flags, _unused in r.take_many(_CHUNK, n))
    return XorbRecord(xhash, chunks, raw, on_disk)


def _parse_footer(body: bytes, cas_start: int, cas_end: int) -> Footer:
    v = _FOOTER.unpack_from(body, len(body) - FOOTER_LEN)
    if v[0] != FOOTER_VERSION:
        raise InvalidXetData(f"shard footer version {v[0]}, expected {FOOTER_VERSION}")
    f = Footer(*v[1:9], v[9], v[10], v[11], *v[18:22])
    tables = [(f.file_lookup_offset, f.file_lookup_num, 12), (f.xorb_lookup_offset, f.xorb_lookup_num, 12),
              (f.chunk_lookup_offset, f.chunk_lookup_num, 16)]
    pos = cas_end
    for offset, num, width in tables:
        if offset != pos:
            raise InvalidXetData(f"shard footer: a lookup table at {offset}, expected {pos}")
        pos += num * width
    if (f.footer_offset != pos or pos != len(body) - FOOTER_LEN or f.file_info_offset != HEADER_LEN
            or f.xorb_info_offset != cas_start):
        raise InvalidXetData("shard footer: offsets do not match the shard's sections")
    return f


def parse_shard(body: bytes) -> Shard:
    """Parse a shard (upload form or full form), checking its structure; see :func:`validate_shard`."""
    body = bytes(body)
    r = _Reader(body)
    tag, version, footer_size = r.take(_HEADER, "the header")
    if tag != SHARD_TAG:
        raise InvalidXetData("not a shard: wrong tag")
    if version != SHARD_VERSION:
        raise InvalidXetData(f"shard version {version}, expected {SHARD_VERSION}")
    if footer_size not in (0, FOOTER_LEN):
        raise InvalidXetData(f"shard footer size {footer_size}, expected 0 or {FOOTER_LEN}")
    files: dict[bytes, FileRecord] = {}
    while True:
        fhash, flags, n, _unused = r.take(_FILE_HEADER, "the file info section (no bookend)")
        if fhash == _BOOKEND_HASH:
            break
        if fhash in files:
            raise InvalidXetData(f"file {to_hex(fhash)} appears twice in the shard")
        files[fhash] = _parse_file(r, fhash, flags, n)
    xorbs: dict[bytes, XorbRecord] = {}
    cas_start = r.pos
    while True:
        xhash, _flags, n, raw, on_disk = r.take(_XORB_HEADER, "the CAS info section (no bookend)")
        if xhash == _BOOKEND_HASH:
            break
        if xhash in xorbs:
            raise InvalidXetData(f"xorb {to_hex(xhash)} appears twice in the shard")
        xorbs[xhash] = _parse_xorb(r, xhash, n, raw, on_disk)
    footer = None
    if footer_size:
        if len(body) - r.pos < FOOTER_LEN:
            raise InvalidXetData("shard truncated: the header announces a footer")
        footer = _parse_footer(body, cas_start, r.pos)
    elif r.pos != len(body):
        raise InvalidXetData(f"{len(body) - r.pos} bytes after the CAS info section of a shard without footer")
    return Shard(tuple(files.values()), tuple(xorbs.values()), footer)


# --- validation (§7.3) ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ValidShard:
    """A shard whose every file and xorb checked out against the stored xorbs."""

    files: tuple[FileRecord, ...]
    xorbs: tuple[XorbRecord, ...]


def _check_file(f: FileRecord, index_of: Callable[[bytes], XorbIndex]) -> None:
    name = f"file {to_hex(f.hash)}"
    if f.verification is None and f.terms:
        raise InvalidXetData(f"{name}: no verification entries (flag bit 31 unset)")
    nodes: list[tuple[bytes, int]] = []
    for i, t in enumerate(f.terms):
        idx = index_of(t.xorb)
        n = len(idx.chunks)
        if not 0 <= t.start < t.end <= n:
            raise InvalidXetData(f"{name}, term {i}: chunk range [{t.start}, {t.end}) outside xorb "
                                 f"{to_hex(t.xorb)} of {n} chunks")
        chunk_nodes = idx.nodes(t.start, t.end)
        size = sum(s for _, s in chunk_nodes)
        if t.size != size:
            raise InvalidXetData(f"{name}, term {i}: {t.size} bytes announced, chunks [{t.start}, {t.end}) of "
                                 f"xorb {to_hex(t.xorb)} hold {size}")
        expected = verification_hash(h for h, _ in chunk_nodes)
        if f.verification is not None and f.verification[i] != expected:
            raise InvalidXetData(f"{name}, term {i}: wrong verification hash for chunks [{t.start}, {t.end}) "
                                 f"of xorb {to_hex(t.xorb)}")
        nodes.extend(chunk_nodes)
    got = file_hash(nodes)
    if got != f.hash:
        raise InvalidXetData(f"{name}: its terms' chunks hash to {to_hex(got)}")


def _check_xorb(x: XorbRecord, idx: XorbIndex) -> None:
    name = f"xorb {to_hex(x.hash)}"
    if len(x.chunks) != len(idx.chunks):
        raise InvalidXetData(f"{name}: {len(x.chunks)} chunks listed, the stored xorb has {len(idx.chunks)}")
    offset = 0
    for i, (c, s) in enumerate(zip(x.chunks, idx.chunks)):
        if c.hash != s.hash or c.size != s.size or c.offset != offset:
            raise InvalidXetData(f"{name}: chunk {i} does not match the stored xorb")
        offset += s.size
    if x.raw_size != offset:
        raise InvalidXetData(f"{name}: {x.raw_size} bytes listed, the stored xorb holds {offset}")


def validate_shard(shard: Shard, lookup: Callable[[bytes], XorbIndex | None], *,
                   max_chunk_refs: int = MAX_CHUNK_REFS) -> ValidShard:
    """Check a parsed upload shard against the stored xorbs (§7.3); nothing is registered here.

    ``lookup(raw xorb hash)`` returns the stored xorb's index or ``None`` (refused: "not stored"). It
    is called once per distinct xorb. For every file: each term's xorb is stored, its chunk range
    lies within it, its size and verification hash match, and all chunks hash to the file ID. For
    every CAS block: the xorb is stored and its chunk list matches.
    """
    indexes: dict[bytes, XorbIndex] = {}

    def index_of(xorb: bytes) -> XorbIndex:
        if xorb not in indexes:
            idx = lookup(xorb)
            if idx is None:
                raise InvalidXetData(f"xorb {to_hex(xorb)} is not stored: upload it before the shard")
            indexes[xorb] = idx
        return indexes[xorb]

    refs = sum(max(0, t.end - t.start) for f in shard.files for t in f.terms)
    if refs > max_chunk_refs:
        raise InvalidXetData(f"shard references {refs} chunks: the limit is {max_chunk_refs}")
    for f in shard.files:
        _check_file(f, index_of)
    for x in shard.xorbs:
        _check_xorb(x, index_of(x.hash))
    return ValidShard(shard.files, shard.xorbs)


# --- serialization (§7.1, §7.4) -------------------------------------------------------------------

def _file_records(f: FileRecord) -> list[bytes]:
    flags = (FLAG_VERIFICATION if f.verification is not None else 0) | (FLAG_METADATA_EXT if f.sha256 is not None else 0)
    out = [_FILE_HEADER.pack(f.hash, flags, len(f.terms), 0)]
    out += [_TERM.pack(t.xorb, 0, t.size, t.start, t.end) for t in f.terms]
    if f.verification is not None:
        out += [v + bytes(16) for v in f.verification]
    if f.sha256 is not None:
        out.append(f.sha256 + bytes(16))
    return out


def serialize_shard(files: Iterable[FileRecord], xorbs: Iterable[XorbRecord], *, footer: bool = False,
                    hmac_key: bytes = ZERO_HASH, creation_ts: int = 0, key_expiry: int = (1 << 64) - 1) -> bytes:
    """A shard with these files and xorbs, each section sorted by hash as the client writes them.

    ``footer=False`` is the upload form (§7.2); ``footer=True`` adds the lookup tables and footer of
    §7.4. Chunk hashes are written as given: key them first (:meth:`XorbRecord.from_index`) when
    ``hmac_key`` is set; the footer records the key.
    """
    files = sorted(files, key=lambda f: hash_order(f.hash))
    xorbs = sorted(xorbs, key=lambda x: hash_order(x.hash))
    parts = [_HEADER.pack(SHARD_TAG, SHARD_VERSION, FOOTER_LEN if footer else 0)]
    file_lookup, xorb_lookup, chunk_lookup = [], [], []
    record = 0
    for f in files:
        recs = _file_records(f)
        file_lookup.append((w0(f.hash), record))
        parts += recs
        record += len(recs)
    parts.append(BOOKEND)
    cas_offset = HEADER_LEN + (record + 1) * RECORD_LEN
    record = 0
    for x in xorbs:
        xorb_lookup.append((w0(x.hash), record))
        parts.append(_XORB_HEADER.pack(x.hash, 0, len(x.chunks), x.raw_size, x.bytes_on_disk))
        for i, c in enumerate(x.chunks):
            parts.append(_CHUNK.pack(c.hash, c.offset, c.size, c.flags, 0))
            chunk_lookup.append((w0(c.hash), record, i))
        record += 1 + len(x.chunks)
    parts.append(BOOKEND)
    if not footer:
        return b"".join(parts)
    pos = cas_offset + (record + 1) * RECORD_LEN
    offsets = []
    for table, fmt in ((file_lookup, _KEY_U32), (xorb_lookup, _KEY_U32), (chunk_lookup, _KEY_U32_U32)):
        table.sort(key=lambda e: e[0])
        offsets += [pos, len(table)]
        parts += [fmt.pack(*e) for e in table]
        pos += len(table) * fmt.size
    parts.append(_FOOTER.pack(
        FOOTER_VERSION, HEADER_LEN, cas_offset, *offsets, hmac_key, creation_ts, key_expiry, *([0] * 6),
        sum(x.bytes_on_disk for x in xorbs), sum(f.size for f in files), sum(x.raw_size for x in xorbs), pos))
    return b"".join(parts)


def upload_shard(files: Sequence[FileRecord], new_xorbs: Sequence[XorbIndex]) -> bytes:
    """The shard a client would upload for these files and newly uploaded xorbs (tests, conversions)."""
    return serialize_shard(files, [XorbRecord.from_index(x) for x in new_xorbs])
