"""The real hf_xet 1.8 client against a throwaway CAS built on ``cove.server.cas`` (``tiny_cas.py``).

Its xorbs and shards go through ``verify_xorb``/``validate_shard``, its downloads through
``plan_range`` and the v1 or v2 reconstruction JSON; each client runs in its own process with its own
HF_HOME (a shared shard cache would hide missing server features, spec §10). What is checked:

* D (spec §11) uploads as exactly the bytes of ``serialize_xorb(chunks, NONE)`` (1,000,088 bytes, its
  CRC) and the 912-byte shard ``upload_shard`` writes; the client's file ID and sha256 equal ours;
* files of many kinds (all three compression schemes appear) upload, then download whole and in
  ranges from a fresh machine through v1 and v2, byte for byte; server-side streams agree;
* files the server converted itself (LZ4 and BG4 xorbs of our serializer) download through the client;
* a fresh machine uploading D with 100 bytes changed dedups against the server (route #6) and sends
  only the changed chunks; the shard's cross-xorb terms validate, and the new file downloads.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from cove.server.cas.convert import convert_file
from cove.server.cas.hashes import crc64_nvme, file_hash, from_hex, to_hex, verification_hash
from cove.server.cas.reconstruct import plan_range, stream_range
from cove.server.cas.shard import FileRecord, Term, parse_shard, serialize_shard, upload_shard
from cove.server.cas.xorb import HEADER_LEN, Scheme, serialize_xorb

pytest.importorskip("hf_xet")
from tests.server.cas import tiny_cas  # noqa: E402

CLIENT = Path(__file__).with_name("xet_client.py")
pytestmark = pytest.mark.slow  # client processes: about 10 s for the module


@pytest.fixture
def server():
    state = tiny_cas.CasState()
    srv, base = tiny_cas.start(state)
    yield state, base
    srv.shutdown()
    srv.server_close()


def run_client(job: dict, home: Path, base: str) -> object:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PYTHONPATH"))}
    env.update(HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1")
    proc = subprocess.run([sys.executable, str(CLIENT)], input=json.dumps({**job, "endpoint": base}),
                          capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def upload(paths: list[Path], home: Path, base: str) -> list[dict]:
    return run_client({"op": "upload", "paths": [str(p) for p in paths]}, home, base)


def download(items: list[tuple[str, int, int | None, int | None]], home: Path, base: str, tmp: Path) -> list[bytes]:
    jobs = [{"hash": h, "size": size, "start": s, "end": e, "out": str(tmp / f"out{i}")}
            for i, (h, size, s, e) in enumerate(items)]
    run_client({"op": "download", "items": jobs}, home, base)
    return [Path(j["out"]).read_bytes() for j in jobs]


def requests(state, method: str, prefix: str) -> list[tuple[str, int]]:
    return [(path, status) for m, path, status, _ in state.log if m == method and path.startswith(prefix)]


def schemes(body: bytes) -> set[int]:
    out, pos = set(), 0
    while pos < len(body):
        out.add(body[pos + 4])
        pos += HEADER_LEN + int.from_bytes(body[pos + 1:pos + 4], "little")
    return out


def test_vector_d_upload_is_byte_exact(server, tmp_path, data_d, chunks_d):
    state, base = server
    (tmp_path / "d.bin").write_bytes(data_d)
    [info] = upload([tmp_path / "d.bin"], tmp_path / "home_a", base)
    assert info["hash"] == "d2d31f60fc5649d7024fc5d3dcf5fadd47fd0e0b427dd8412e2c1facd287d99c"
    assert info["sha256"] == hashlib.sha256(data_d).hexdigest() == (
        "17468052bf180d189e5b13c320cb83a99a8d0ed62dfdecc391789adfa1f25699")
    body, index = serialize_xorb(chunks_d, Scheme.NONE)
    [(xorb, sent)] = state.xorb_uploads
    assert to_hex(xorb) == "0096ffcdf68edd9ebd812ab70e18b9a668cfb1a1e65d87fb5098645c579f3683" == to_hex(index.hash)
    assert sent == body and len(sent) == 1_000_088 and crc64_nvme(sent) == 11560200954488894900
    [shard] = state.shard_uploads
    record = FileRecord(file_hash(index.nodes()), (Term(index.hash, 0, 11, 1_000_000),),
                        (verification_hash(c.hash for c in index.chunks),), from_hex(info["sha256"]))
    assert len(shard) == 912 and shard == upload_shard([record], [index])
    assert state.files[from_hex(info["hash"])] == record
    # the §10 minimum as the client met it: grants and v2 shards answered 404, then the v1 routes
    assert requests(state, "POST", "/v1/xorb-grants/")[0][1] == 404
    assert [s for _, s in requests(state, "POST", "/v2/shards")] == [404]
    assert [s for _, s in requests(state, "POST", "/v1/shards")] == [200]


def _corpus() -> dict[str, bytes]:
    rng = random.Random(99)
    words = [rng.randbytes(rng.randint(1, 6)).hex().encode() for _ in range(300)]
    return {
        "random.bin": rng.randbytes(5_000_000),
        "text.txt": b" ".join(rng.choice(words) for _ in range(500_000))[:2_500_000],
        "floats.bin": struct.pack("<400000f", *(rng.gauss(0, 1) for _ in range(400_000))),
        "zeros.bin": bytes(1_500_000),
        "mixed.bin": b"".join(rng.randbytes(rng.randint(1, 90_000)) + bytes(rng.randint(1, 90_000)) for _ in range(15)),
        "tiny.txt": b"hello world",
        "repeat.bin": rng.randbytes(70_000) * 20,
        "empty.bin": b"",  # uploaded as a file with no terms, file ID and (client quirk) sha256 all zeros
    }


@pytest.mark.parametrize("v2", [False, True], ids=["v1", "v2"])
def test_upload_then_download_from_a_fresh_machine(server, tmp_path, v2):
    state, base = server
    state.v2 = v2
    corpus = _corpus()
    for name, data in corpus.items():
        (tmp_path / name).write_bytes(data)
    infos = upload([tmp_path / n for n in corpus], tmp_path / "home_up", base)
    assert {0, 1, 2} <= set().union(*(schemes(b) for _, b in state.xorb_uploads))
    for body in state.shard_uploads:  # our serializer writes the client's bytes: order, flags, padding
        shard = parse_shard(body)
        assert serialize_shard(shard.files, shard.xorbs) == body
    assert sum(len(parse_shard(b).files) for b in state.shard_uploads) == len(corpus)
    rng = random.Random(5)
    items, expected = [], []
    for data, info in zip(corpus.values(), infos):
        record = state.files[from_hex(info["hash"])]
        assert to_hex(record.sha256) == info["sha256"] and info["size"] == len(data)
        if not data:
            assert record.terms == () and info["hash"] == info["sha256"] == "0" * 64
            items.append((info["hash"], 0, None, None))
            expected.append(b"")
            continue
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        plan = plan_range(record.terms, state.cas.index, 0, len(data))
        assert b"".join(stream_range(plan, state.cas.index, state.cas.read)) == data
        ranges = [(None, None), (0, 1), (len(data) - 1, len(data))]
        ranges += [tuple(sorted(rng.sample(range(len(data) + 1), 2))) for _ in range(3)]
        for s, e in ranges:
            if s is not None and s == e:
                continue
            items.append((info["hash"], len(data), s, e))
            expected.append(data[s:e])
    got = download(items, tmp_path / "home_down", base, tmp_path)
    assert [len(g) for g in got] == [len(x) for x in expected]
    assert got == expected
    version = "/v2/reconstructions/" if v2 else "/v1/reconstructions/"
    assert all(status == 200 for _, status in requests(state, "GET", version))
    assert all(status == 206 for _, status in requests(state, "GET", "/fetch/"))
    assert not any("authorization" in h for m, p, _, h in state.log if p.startswith("/fetch/"))


def test_server_converted_files_download_through_the_client(server, tmp_path):
    state, base = server
    rng = random.Random(11)
    text = b"".join(rng.choice([b"alpha ", b"beta ", b"gamma\n", rng.randbytes(8)]) for _ in range(300_000))
    floats = struct.pack("<300000f", *(rng.gauss(0, 1) for _ in range(300_000)))
    items = []
    for data, scheme in ((text, None), (floats, Scheme.BG4_LZ4), (text[:50_000], Scheme.LZ4)):
        record, _ = convert_file(io.BytesIO(data), state.cas, scheme=scheme)
        state.register(record)
        items.append((to_hex(record.hash), len(data), None, None))
        items.append((to_hex(record.hash), len(data), 12_345, len(data) - 6_789))
    got = download(items, tmp_path / "home", base, tmp_path)
    assert got == [text, text[12_345:-6_789], floats, floats[12_345:-6_789], text[:50_000], text[12_345:50_000 - 6_789]]


@pytest.mark.parametrize("global_dedup", [True, False], ids=["route6", "no_route6"])
def test_global_dedup_from_a_fresh_machine(server, tmp_path, data_d, global_dedup):
    state, base = server
    state.global_dedup = global_dedup
    (tmp_path / "d.bin").write_bytes(data_d)
    upload([tmp_path / "d.bin"], tmp_path / "home_a", base)
    changed = data_d[:500_000] + bytes(100) + data_d[500_100:]
    (tmp_path / "d2.bin").write_bytes(changed)
    state.xorb_uploads.clear()
    [info] = upload([tmp_path / "d2.bin"], tmp_path / "home_c", base)  # another machine: no local shard cache
    sent = sum(len(b) for _, b in state.xorb_uploads)
    print(f"dedup {global_dedup}: {sent} bytes of xorbs sent for a 1,000,000-byte file with 100 bytes changed")
    record = state.files[from_hex(info["hash"])]
    if global_dedup:
        assert any(status == 200 for _, status in requests(state, "GET", "/v1/chunks/"))
        assert 0 < sent < 300_000, sent  # the changed chunk only, not the 1 MB
        assert len({t.xorb for t in record.terms}) == 2  # old xorb + the new one
    else:
        assert sent > 1_000_000 and len({t.xorb for t in record.terms}) == 1
    [got] = download([(info["hash"], len(changed), None, None)], tmp_path / "home_d", base, tmp_path)
    assert got == changed
