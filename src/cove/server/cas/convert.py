"""Convert a file that arrived through LFS or git into Xet form: chunks, xorbs, a file record.

:func:`convert_file` streams the file once through the chunker (§5) and sha256, packs its chunks
into xorbs within the §6.3 limits (one term per xorb), stores them through a
:class:`~cove.server.cas.store.CasStore`, and returns the :class:`~cove.server.cas.shard.FileRecord`
the Hub registers like an uploaded shard's (file ID, terms, verification hashes, sha256). At most
one xorb's chunks (64 MiB) are held at a time. Chunks repeated within the file are stored again,
not deduplicated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from cove.server.cas.chunker import iter_chunks
from cove.server.cas.hashes import file_hash, from_hex, verification_hash
from cove.server.cas.shard import FileRecord, Term
from cove.server.cas.store import CasStore
from cove.server.cas.xorb import Scheme, XorbIndex, pack_chunks, serialize_xorb


def _hashed(f: BinaryIO, update: Callable[[bytes], None]) -> Iterator[bytes]:
    for chunk in iter_chunks(f):
        update(chunk)
        yield chunk


def convert_file(f: BinaryIO, cas: CasStore, *, scheme: Scheme | None = None) -> tuple[FileRecord, list[XorbIndex]]:
    """Store a file's content as xorbs; return its record and the xorbs written (for the dedup index)."""
    sha = hashlib.sha256()
    terms, verification, nodes, xorbs = [], [], [], []
    for group in pack_chunks(_hashed(f, sha.update)):
        body, index = serialize_xorb(group, scheme)
        cas.put_verified(body, index)
        xorbs.append(index)
        terms.append(Term(index.hash, 0, len(index.chunks), index.raw_size))
        verification.append(verification_hash(c.hash for c in index.chunks))
        nodes.extend(index.nodes())
    record = FileRecord(file_hash(nodes), tuple(terms), tuple(verification), from_hex(sha.hexdigest()))
    return record, xorbs
