"""cove.formats.safetensors: zero copy, every dtype, interop with the reference package, hostile files."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest
import safetensors.torch as reference
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cove.formats import safetensors as cst

DTYPES = [getattr(torch, attr) for _, attr in cst.DTYPES.values()]


def sample(dtype: torch.dtype, shape=(3, 5)) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 4).to(dtype)
    if dtype in (torch.uint16, torch.uint32, torch.uint64):
        return torch.randint(0, 200, shape, generator=g).to(dtype)
    return torch.randint(-100, 100, shape, generator=g).to(dtype)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    # Compare bytes: equality ops are missing for some dtypes (float8, uint64).
    return a.dtype == b.dtype and a.shape == b.shape and raw(a) == raw(b)


def raw(t: torch.Tensor) -> bytes:
    return bytes(t.contiguous().reshape(-1).view(torch.uint8).numpy())


def test_import_does_not_import_torch():
    code = (
        "import sys, cove, cove.formats.safetensors, cove.formats.config, cove.formats.gguf,"
        " cove.formats.gguf_tokenizer; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_dtype_round_trips_both_ways(tmp_path, dtype):
    tensors = {"x": sample(dtype), "scalar": sample(dtype, ()), "empty": sample(dtype, (0, 4))}
    cst.save_file(tensors, tmp_path / "cove.safetensors")
    reference.save_file(tensors, tmp_path / "ref.safetensors")
    from_ref = cst.load_file(tmp_path / "ref.safetensors")
    from_cove = reference.load_file(tmp_path / "cove.safetensors")
    for name, t in tensors.items():
        assert same(from_ref[name], t)
        assert same(from_cove[name], t)


def test_same_bytes_as_reference_writer(tmp_path):
    tensors = {
        "b": torch.arange(7, dtype=torch.int16),
        "a": torch.randn(3, 3),
        "c": torch.ones(2, dtype=torch.float64),
    }
    meta = {"format": "pt"}
    cst.save_file(tensors, tmp_path / "a.safetensors", meta)
    reference.save_file(tensors, tmp_path / "b.safetensors", meta)
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_tensors_are_views_on_the_mapped_file(tmp_path):
    cst.save_file({"a": torch.randn(64, 64), "b": torch.randn(8)}, tmp_path / "m.safetensors")
    f = cst.SafetensorsFile(tmp_path / "m.safetensors")
    a, b = f["a"], f["b"]
    # Both share one storage: the whole mapped file; nothing was copied.
    assert a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    assert a.untyped_storage().nbytes() == (tmp_path / "m.safetensors").stat().st_size
    # Copy-on-write: writing to a tensor never changes the file.
    a.zero_()
    assert not torch.equal(cst.load_file(tmp_path / "m.safetensors")["a"], a)


def test_metadata_and_lazy_info(tmp_path):
    cst.save_file(
        {"w": torch.zeros(2, 3, dtype=torch.float16)}, tmp_path / "m.safetensors", {"format": "pt", "k": "v"}
    )
    f = cst.SafetensorsFile(tmp_path / "m.safetensors")
    assert f.metadata == {"format": "pt", "k": "v"}
    assert cst.load_metadata(tmp_path / "m.safetensors") == {"format": "pt", "k": "v"}
    assert f.info("w") == cst.TensorInfo("w", "F16", (2, 3), 0, 12)
    assert list(f) == ["w"] and len(f) == 1
    with cst.SafetensorsFile(tmp_path / "m.safetensors") as g:
        assert list(g.keys()) == ["w"] and g["w"].shape == (2, 3)
    with pytest.raises(KeyError, match="nope"):
        f["nope"]


def test_sharded_write_and_read(tmp_path):
    tensors = {f"layer.{i}.weight": torch.randn(16, 16) for i in range(5)}  # 1 KiB each
    written = cst.save_sharded(tensors, tmp_path, max_shard_size="2500B", metadata={"format": "pt"})
    assert written[-1] == cst.INDEX_FILE and len(written) == 4  # 2 + 2 + 1 tensors
    index = json.loads((tmp_path / cst.INDEX_FILE).read_text())
    assert index["metadata"]["total_size"] == 5 * 1024
    assert index["weight_map"]["layer.4.weight"] == "model-00003-of-00003.safetensors"
    ckpt = cst.open_checkpoint(tmp_path)
    assert set(ckpt) == set(tensors)
    for name, t in tensors.items():
        assert torch.equal(ckpt[name], t)
        # the reference package reads each shard
        assert torch.equal(reference.load_file(tmp_path / index["weight_map"][name])[name], t)


def test_single_file_when_under_the_limit(tmp_path):
    assert cst.save_sharded({"a": torch.ones(3)}, tmp_path, max_shard_size="5GB") == ["model.safetensors"]
    assert torch.equal(cst.open_checkpoint(tmp_path)["a"], torch.ones(3))
    assert cst.open_checkpoint(tmp_path / "nothing") is None


def test_index_pointing_outside_the_folder_is_refused(tmp_path):
    for evil in ("../evil.safetensors", "/etc/passwd", "sub/../../x.safetensors", ".."):
        (tmp_path / cst.INDEX_FILE).write_text(json.dumps({"weight_map": {"a": evil}}))
        with pytest.raises(cst.SafetensorsError, match="outside"):
            cst.open_checkpoint(tmp_path)


def test_sharded_checkpoint_of_symlinks(tmp_path):
    """A Hub cache snapshot: the index and shards are symlinks into a blob store elsewhere."""
    cst.save_sharded({"a": torch.ones(300), "b": torch.zeros(300)}, tmp_path / "blobs", max_shard_size=1500)
    (tmp_path / "snap").mkdir()
    for f in (tmp_path / "blobs").iterdir():
        (tmp_path / "snap" / f.name).symlink_to(f)
    ckpt = cst.open_checkpoint(tmp_path / "snap")
    assert torch.equal(ckpt["a"], torch.ones(300)) and torch.equal(ckpt["b"], torch.zeros(300))


@pytest.mark.parametrize(
    "size,expected",
    [(10, 10), ("5GB", 5_000_000_000), ("2MiB", 2 * 1024**2), ("500kb", 500_000), ("1.5GB", 1_500_000_000)],
)
def test_parse_size(size, expected):
    assert cst.parse_size(size) == expected


# --- hostile files -----------------------------------------------------------------------------


def file_bytes(header: object, data: bytes = b"", *, length: int | None = None) -> bytes:
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(body) if length is None else length) + body + data


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


HOSTILE = {
    "empty file": b"",
    "short length": b"\x01\x02",
    "header past end": file_bytes({}, length=10_000),
    "huge header length": struct.pack("<Q", 2**63) + b"{}",
    "not json": file_bytes(b"{not json"),
    "not utf8": file_bytes(b'{"\xff": 1}'),
    "json list": file_bytes([1, 2]),
    "unknown dtype": file_bytes({"a": entry(dtype="F7")}, b"\0" * 8),
    "negative shape": file_bytes({"a": entry(shape=(-2,))}, b"\0" * 8),
    "float shape": file_bytes({"a": entry(shape=(2.0,))}, b"\0" * 8),
    "shape/bytes mismatch": file_bytes({"a": entry(shape=(3,))}, b"\0" * 8),
    "reversed offsets": file_bytes({"a": entry(offsets=(8, 0))}, b"\0" * 8),
    "out of range": file_bytes({"a": entry(offsets=(8, 16))}, b"\0" * 8),
    "truncated data": file_bytes({"a": entry(shape=(4,), offsets=(0, 16))}, b"\0" * 8),
    "overlap": file_bytes({"a": entry(), "b": entry(offsets=(4, 12))}, b"\0" * 12),
    "gap": file_bytes({"a": entry(offsets=(4, 12))}, b"\0" * 12),
    "trailing bytes": file_bytes({"a": entry()}, b"\0" * 9),
    "bad metadata": file_bytes({"__metadata__": {"a": 1}}),
    "entry not object": file_bytes({"a": 3}),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_give_a_clear_error(tmp_path, name):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(HOSTILE[name])
    with pytest.raises(cst.SafetensorsError, match="bad.safetensors: "):
        cst.SafetensorsFile(path)
    # and the reference implementation refuses them too (same validation rules)
    with pytest.raises(Exception):  # noqa: B017
        reference.load_file(path)


def test_truncated_real_file(tmp_path):
    cst.save_file({"w": torch.randn(100)}, tmp_path / "ok.safetensors")
    raw = (tmp_path / "ok.safetensors").read_bytes()
    for cut in (4, 20, len(raw) - 1):
        (tmp_path / "cut.safetensors").write_bytes(raw[:cut])
        with pytest.raises(cst.SafetensorsError):
            cst.SafetensorsFile(tmp_path / "cut.safetensors")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)
entries = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from([*cst.DTYPES, "X"]),
        "shape": st.lists(st.integers(-1, 5), max_size=3),
        "data_offsets": st.lists(st.integers(-2, 80), min_size=1, max_size=3),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    header=st.dictionaries(st.text(max_size=6), entries | json_values, max_size=4) | json_values,
    data=st.binary(max_size=80),
    length_delta=st.integers(-3, 3) | st.just(0),
)
def test_fuzz_header_parser(header, data, length_delta):
    body = json.dumps(header).encode()
    raw = struct.pack("<Q", max(len(body) + length_delta, 0)) + body + data
    try:
        h = cst.parse_header(raw, len(raw), where="fuzz")
    except cst.SafetensorsError:
        return
    # accepted: every tensor lies inside the data section, without overlap
    end = 0
    for info in sorted(h.tensors.values(), key=lambda t: t.start):
        assert info.start == end and h.data_start + info.end <= len(raw)
        end = info.end


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64))
def test_fuzz_raw_bytes(raw):
    try:
        cst.parse_header(raw, len(raw), where="fuzz")
    except cst.SafetensorsError:
        pass
