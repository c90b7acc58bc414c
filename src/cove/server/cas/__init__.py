"""The Xet CAS core: hashes, chunking, xorbs, shards, reconstruction and dedup, with no HTTP and no database.

Modules, in the order data flows (sections of the Xet protocol spec, ``xet-protocol.md``, in brackets):

* ``hashes``      keyed blake3: chunk, Merkle root (xorb hash), file ID, term verification, keyed
                  chunk hashes, dedup eligibility; the 64-hex text form; CRC-64/NVME [§4]
* ``chunker``     the content-defined chunker, streaming; the file ID of a whole file [§5]
* ``xorb``        verify an uploaded xorb (whole, or as it arrives: ``XorbReceiver``), serialize one,
                  decode chunk ranges; ``XorbIndex`` [§6]
* ``shard``       parse, validate (against stored xorbs) and serialize shards [§7]
* ``reconstruct`` Range parsing, the v1/v2 reconstruction JSON, server-side byte streams [§8]
* ``dedup``       what a shard adds to the global dedup index, and the answer to a query [§9]
* ``store``       ``ByteStore`` (the I/O interface), ``CasStore`` (xorbs + indexes on it)
* ``convert``     an LFS blob -> xorbs + a file record
* ``errors``      ``InvalidXetData`` (400, every refusal of bad input), ``XetStoreError`` (500)

What the CAS routes call::

    POST /v1/xorbs/{p}/{h}        cas.put_xorb(from_hex(h), body) -> (index, was_inserted)
                                  (the Hub: the body to a file, XorbReceiver over it, then cas.keep)
    POST /v1/shards               shard = validate_shard(parse_shard(body), cas.index)
                                  then register shard.files (file ID -> terms, sha256 -> file ID)
                                  and dedup_entries(shard, cas.index) in the dedup table
    GET  /v1/reconstructions/{f}  s, e = parse_range(request Range, size)
                                  reconstruction_v1(plan_range(terms, cas.index, s, e), cas.index, sign)
    GET  <fetch URL> + Range      cas.read(xorb, first, last + 1)
    GET  /v1/chunks/{p}/{c}       answer_query(from_hex(c), table.find, cas.index) or 404
    GET  resolve (Xet file)       stream_range(plan_range(...), cas.index, cas.read)
"""
