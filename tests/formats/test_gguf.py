"""cove.formats.gguf against the reference ``gguf`` package (test-only): reader and dequantizers."""

from __future__ import annotations

import struct

import gguf
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cove.formats.gguf import DEQUANTIZERS, GGML_TYPES, GGUFError, GGUFFile

QUANTIZED = [name for name, block, _ in GGML_TYPES.values() if name in DEQUANTIZERS and block > 1]
# byte offsets of the float16 scale fields in each block layout
F16_FIELDS = {"Q8_0": [0], "Q4_0": [0], "Q4_1": [0, 2], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}


def test_every_required_type_is_covered():
    assert {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"} <= set(DEQUANTIZERS)


@pytest.mark.parametrize("name", QUANTIZED)
def test_dequantize_matches_reference(name):
    """Random blocks (every bit pattern of the quants, finite scales) dequantize exactly as gguf does."""
    size = next(s for n, _, s in GGML_TYPES.values() if n == name)
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (37, size), dtype=np.uint8)
    for offset in F16_FIELDS[name]:
        scales = (rng.standard_normal(37) * 0.05).astype(np.float16)
        blocks[:, offset : offset + 2] = scales.view(np.uint8).reshape(37, 2)
    expected = gguf.quants.dequantize(blocks.reshape(-1), gguf.GGMLQuantizationType[name]).reshape(-1)
    got = DEQUANTIZERS[name](torch.from_numpy(blocks.reshape(-1).copy()))
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("name", ["F16", "BF16"])
def test_plain_float_types(name):
    x = torch.randn(64)
    dtype = torch.float16 if name == "F16" else torch.bfloat16
    raw = x.to(dtype).view(torch.uint8)
    torch.testing.assert_close(DEQUANTIZERS[name](raw), x.to(dtype).float(), atol=0, rtol=0)


def write_file(path, tensors: dict[str, np.ndarray], quant: dict[str, str] | None = None):
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_uint32("test.u32", 7)
    writer.add_float32("test.f32", 0.5)
    writer.add_bool("test.bool", True)
    writer.add_string("test.str", "héllo")
    writer.add_array("test.ints", [1, 2, 3])
    writer.add_array("test.strs", ["a", "bc"])
    for name, array in tensors.items():
        kind = (quant or {}).get(name)
        if kind:
            qtype = gguf.GGMLQuantizationType[kind]
            writer.add_tensor(name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_reader_on_a_file_written_by_gguf(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {
        "a.weight": rng.standard_normal((4, 64)).astype(np.float32),
        "b.weight": rng.standard_normal((3, 32)).astype(np.float16),
        "c.weight": rng.standard_normal((2, 64)).astype(np.float32),
    }
    write_file(tmp_path / "t.gguf", tensors, quant={"c.weight": "Q8_0"})
    f = GGUFFile(tmp_path / "t.gguf")
    m = f.metadata
    assert m["general.architecture"] == "llama" and m["test.u32"] == 7 and m["test.f32"] == 0.5
    assert m["test.bool"] is True and m["test.str"] == "héllo"
    assert m["test.ints"] == [1, 2, 3] and m["test.strs"] == ["a", "bc"]
    assert f.tensors["a.weight"].shape == (4, 64) and f.tensors["c.weight"].type_name == "Q8_0"
    np.testing.assert_array_equal(f.dequantize("a.weight").numpy(), tensors["a.weight"])
    np.testing.assert_array_equal(f.dequantize("b.weight").numpy(), tensors["b.weight"].astype(np.float32))
    reference = gguf.GGUFReader(str(tmp_path / "t.gguf"))
    c = next(t for t in reference.tensors if t.name == "c.weight")
    expected = gguf.quants.dequantize(c.data, c.tensor_type).reshape(2, 64)
    np.testing.assert_array_equal(f.dequantize("c.weight").numpy(), expected)
    assert np.abs(expected - tensors["c.weight"]).max() < 0.05  # and Q8_0 is close to the original


def test_hostile_files(tmp_path):
    good = tmp_path / "good.gguf"
    write_file(good, {"a.weight": np.ones((2, 32), np.float32)})
    raw = good.read_bytes()
    cases = {
        "empty": b"",
        "bad magic": b"GGUX" + raw[4:],
        "version": b"GGUF" + struct.pack("<I", 99) + raw[8:],
        "truncated header": raw[:40],
        "truncated data": raw[:-16],
        "huge count": raw[:8] + struct.pack("<Q", 2**60) + raw[16:],
    }
    for name, data in cases.items():
        (tmp_path / "bad.gguf").write_bytes(data)
        with pytest.raises(GGUFError):
            GGUFFile(tmp_path / "bad.gguf")
        assert name  # every case raised a GGUFError


@pytest.mark.slow
def test_real_smollm2_file(smollm_gguf):
    f = GGUFFile(smollm_gguf)
    m = f.metadata
    assert m["general.architecture"] == "llama" and m["llama.block_count"] == 30
    assert len(m["tokenizer.ggml.tokens"]) == 49152 and len(m["tokenizer.ggml.merges"]) == 48900
    assert "<|im_start|>" in m["tokenizer.chat_template"]
    kinds = [t.type_name for t in f.tensors.values()]
    assert (kinds.count("Q4_1"), kinds.count("Q8_0"), kinds.count("F32")) == (210, 1, 61)
    reference = {t.name: t for t in gguf.GGUFReader(str(smollm_gguf)).tensors}
    for name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight", "output_norm.weight"):
        t = reference[name]
        expected = gguf.quants.dequantize(t.data, t.tensor_type)
        np.testing.assert_array_equal(f.dequantize(name).numpy(), expected.reshape(f.tensors[name].shape))


def test_bad_alignment(tmp_path):
    writer = gguf.GGUFWriter(str(tmp_path / "a.gguf"), arch="llama")
    writer.add_uint32("general.alignment", 0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(GGUFError, match="alignment"):
        GGUFFile(tmp_path / "a.gguf")


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fuzz_reader(tmp_path_factory, data):
    """Any mutation of a valid file (bytes flipped, cut) parses or raises GGUFError, nothing else."""
    path = tmp_path_factory.getbasetemp() / "fuzz-base.gguf"
    if not path.exists():
        write_file(path, {"a.weight": np.ones((2, 32), np.float32)}, quant=None)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(1, len(raw)))]
    target = tmp_path_factory.getbasetemp() / "fuzz.gguf"
    target.write_bytes(bytes(raw))
    try:
        f = GGUFFile(target)
    except GGUFError:
        return
    for name, t in f.tensors.items():
        assert t.offset + t.nbytes <= len(raw)
        f.raw(name)
