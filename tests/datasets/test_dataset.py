"""Cove's own behaviour: memory mapping, the fingerprint cache, formats, features, builders,
iterable datasets and distributed splitting."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pytest

import cove.datasets as cd
from tests.datasets.conftest import make_columns


@pytest.fixture
def on_disk(tmp_path):
    cd.Dataset.from_dict(make_columns(300)).save_to_disk(tmp_path / "ds")
    return cd.load_from_disk(tmp_path / "ds")


def test_import_cove_does_not_import_pyarrow():
    code = "import sys, cove; sys.exit(1 if 'pyarrow' in sys.modules or 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_load_from_disk_is_memory_mapped(on_disk):
    before = pa.total_allocated_bytes()
    again = cd.load_from_disk(on_disk.cache_files[0]["filename"].rsplit("/", 1)[0])
    assert len(again) == 300
    assert pa.total_allocated_bytes() - before < 10_000  # the buffers point into the mapped file


def test_map_is_cached_by_fingerprint(on_disk, tmp_path):
    log = str(tmp_path / "calls")  # counted through a file: state the function's hash does not see

    def fn(row):
        with open(log, "a") as f:
            f.write("x")
        return {"n": len(row["text"])}

    def calls() -> int:
        return len(open(log).read())

    first = on_disk.map(fn)
    assert calls() == 300 and first.cache_files[0]["filename"].endswith(f"cache-{first.fingerprint}.arrow")
    second = on_disk.map(fn)
    assert calls() == 300, "the second identical call must come from the cache"
    assert second.to_dict() == first.to_dict() and second.fingerprint == first.fingerprint
    on_disk.map(fn, load_from_cache_file=False)
    assert calls() == 600
    other = on_disk.map(lambda row: {"n": len(row["text"]) + 1})
    assert other.fingerprint != first.fingerprint and other[0]["n"] == first[0]["n"] + 1
    filtered = on_disk.filter(lambda r: r["label"] == 0)
    assert on_disk.filter(lambda r: r["label"] == 0).fingerprint == filtered.fingerprint
    assert on_disk.cleanup_cache_files() == 3  # two map results, one filter index file


def test_fingerprint_follows_closure_values(on_disk):
    def adder(k):
        return lambda row: {"x": row["label"] + k}

    assert on_disk.map(adder(1))[0]["x"] + 1 == on_disk.map(adder(2))[0]["x"]


def test_formats(on_disk):
    import torch

    ds = on_disk.select_columns(["text", "label", "score", "ids"])
    batch = ds.with_format("torch")[:4]
    assert batch["label"].dtype == torch.int64 and batch["score"].dtype == torch.float32
    assert isinstance(batch["text"][0], str)
    row = ds.with_format("numpy")[0]
    assert isinstance(row["label"], np.integer)
    assert ds.with_format("pandas")[:3].shape == (3, 4)
    assert ds.with_format("arrow")[:3].num_rows == 3
    only = ds.with_format("torch", columns=["label"])
    assert list(only[0]) == ["label"]
    both = ds.with_format("torch", columns=["label"], output_all_columns=True)
    assert isinstance(both[0]["text"], str) and isinstance(both[0]["label"], torch.Tensor)
    assert [len(b["label"]) for b in ds.with_format("torch").iter(batch_size=128)] == [128, 128, 44]
    loader = torch.utils.data.DataLoader(ds.select_columns(["label", "score"]).with_format("torch"), batch_size=50)
    assert next(iter(loader))["label"].shape == (50,)


def test_features_validation_and_casting():
    features = cd.Features({"label": cd.ClassLabel(names=["no", "yes"]), "x": cd.Value("float32")})
    ds = cd.Dataset.from_dict({"label": ["yes", "no"], "x": [1, 2]}, features=features)
    assert ds["label"] == [1, 0] and ds.features["label"].int2str(1) == "yes"
    with pytest.raises(ValueError, match="Invalid label"):
        cd.Dataset.from_dict({"label": ["maybe"], "x": [1]}, features=features)
    with pytest.raises(ValueError, match="out of range"):
        cd.Dataset.from_dict({"label": [5], "x": [1.0]}).cast(features)
    with pytest.raises(ValueError):
        ds.cast(cd.Features({"label": cd.Value("int64")}))
    assert cd.Features.from_dict(features.to_dict()) == features
    assert cd.Features.from_yaml_list(features.to_yaml_list()) == features


def test_builders(tmp_path):
    rows = [{"a": i, "b": str(i)} for i in range(2500)]
    gen = cd.Dataset.from_generator(lambda n: iter(rows[:n]), gen_kwargs={"n": 2500})
    assert gen.to_list() == rows and gen.cache_files
    assert cd.Dataset.from_list(rows).to_dict() == gen.to_dict()
    import pandas as pd

    assert cd.Dataset.from_pandas(pd.DataFrame(rows)).to_list() == rows
    gen.to_csv(tmp_path / "x.csv")
    gen.to_json(tmp_path / "x.jsonl")
    gen.to_parquet(tmp_path / "x.parquet")
    assert cd.Dataset.from_csv(str(tmp_path / "x.csv"))["b"][:3] == [0, 1, 2]  # types inferred as pandas does
    assert cd.Dataset.from_csv(str(tmp_path / "x.csv"), features=gen.features).to_list() == rows
    assert cd.Dataset.from_json(str(tmp_path / "x.jsonl")).to_list() == rows
    assert cd.Dataset.from_parquet(str(tmp_path / "x.parquet")).to_list() == rows
    (tmp_path / "t.txt").write_text("l1\nl2\n\nl3\n")
    assert cd.Dataset.from_text(str(tmp_path / "t.txt"))["text"] == ["l1", "l2", "", "l3"]
    second = cd.Dataset.from_parquet(str(tmp_path / "x.parquet"))
    assert second.cache_files == cd.Dataset.from_parquet(str(tmp_path / "x.parquet")).cache_files


def test_map_errors_are_clear(on_disk):
    with pytest.raises(ValueError, match="remove_columns"):
        on_disk.map(lambda b: {"w": b["text"][:1]}, batched=True)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        on_disk.map(lambda r: {"x": 1 / 0}, num_proc=2)
    with pytest.raises(ValueError, match="not in the dataset"):
        on_disk.map(lambda r: r, remove_columns=["nope"])


def test_iterable_dataset(tmp_path, on_disk):
    it = on_disk.to_iterable_dataset(num_shards=4)
    assert it.n_shards == 4 and list(it) == on_disk.to_list()
    mapped = it.map(lambda r: {"n": len(r["text"])}).filter(lambda r: r["n"] > 9)
    want = on_disk.map(lambda r: {"n": len(r["text"])}).filter(lambda r: r["n"] > 9)
    assert list(mapped) == want.to_list()
    assert [r["label"] for r in it.take(5)] == on_disk["label"][:5]
    shuffled = [r["text"] for r in it.shuffle(seed=1, buffer_size=50)]
    assert sorted(shuffled) == sorted(on_disk["text"]) and shuffled != on_disk["text"]
    assert shuffled == [r["text"] for r in it.shuffle(seed=1, buffer_size=50)]
    def gen(names):
        yield from ({"name": n, "len": len(n)} for n in names)

    lazy = cd.IterableDataset.from_generator(gen, gen_kwargs={"names": ["ab", "c", "def"]})
    assert lazy.n_shards == 3 and [r["len"] for r in lazy] == [2, 1, 3]
    batches = list(it.with_format("torch").iter(batch_size=100))
    assert batches[0]["label"].shape == (100,)


def test_split_dataset_by_node(on_disk):
    parts = [cd.split_dataset_by_node(on_disk, rank=r, world_size=3) for r in range(3)]
    assert sum((p["text"] for p in parts), []) == on_disk["text"]
    it = on_disk.to_iterable_dataset(num_shards=6)
    shards = [list(cd.split_dataset_by_node(it, rank=r, world_size=3)) for r in range(3)]
    assert sorted(r["text"] for s in shards for r in s) == sorted(on_disk["text"])
    odd = on_disk.to_iterable_dataset(num_shards=5)
    rows = [list(cd.split_dataset_by_node(odd, rank=r, world_size=2)) for r in range(2)]
    assert [r["text"] for r in rows[0]] == on_disk["text"][0::2]


def test_streaming_local_files(tmp_path):
    cd.Dataset.from_dict(make_columns(40)).to_parquet(tmp_path / "train.parquet")
    stream = cd.load_dataset(str(tmp_path), streaming=True)
    assert list(stream) == ["train"]
    assert [r["text"] for r in stream["train"]] == make_columns(40)["text"]


def test_image_and_pil_roundtrip():
    from PIL import Image

    ds = cd.Dataset.from_dict({"img": [Image.new("L", (5, 2), 7)]}, features=cd.Features({"img": cd.Image()}))
    assert ds[0]["img"].size == (5, 2)
    made = ds.map(lambda r: {"big": r["img"].resize((10, 4))})
    assert isinstance(made.features["big"], cd.Image) and made[0]["big"].size == (10, 4)
    raw = ds.cast_column("img", cd.Image(decode=False))
    assert isinstance(raw[0]["img"]["bytes"], bytes)


def test_progress_bar_on_map_and_filter(on_disk, monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:  # tqdm draws only on a terminal
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    on_disk.map(lambda r: {"y": 1}, desc="Tokenizing", keep_in_memory=True)
    on_disk.filter(lambda r: True, desc="Keeping", keep_in_memory=True, num_proc=2)
    assert "Tokenizing" in err.getvalue() and "300/300" in err.getvalue() and "Keeping" in err.getvalue()
    on_disk.map(lambda r: {"y": 2}, desc="Quiet", keep_in_memory=True, progress=False)
    assert "Quiet" not in err.getvalue()


def test_large_dataset_opens_quickly(tmp_path):
    n = 200_000
    table = pa.table({"text": pa.array(["x" * 90] * n), "label": pa.array(np.arange(n) % 2)})
    cd.Dataset.from_arrow(table).save_to_disk(tmp_path / "big", num_shards=2)
    start = time.perf_counter()
    ds = cd.load_from_disk(tmp_path / "big")
    assert time.perf_counter() - start < 1.0 and len(ds) == n and ds[n - 1]["label"] == 1


def test_audio_decodes_wav_and_flac_on_access(tmp_path):
    import numpy as np
    import soundfile

    from cove.datasets import Audio, Dataset, Features

    rate = 16000
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate // 10) / rate)).astype(np.float32)
    flac = tmp_path / "tone.flac"
    soundfile.write(flac, tone, rate, subtype="PCM_16")
    features = Features({"audio": Audio()})
    ds = Dataset.from_dict({"audio": [str(flac), {"array": tone, "sampling_rate": rate}]}, features=features)
    for row in (ds[0]["audio"], ds[1]["audio"]):
        assert row["sampling_rate"] == rate
        assert np.allclose(row["array"], tone, atol=1e-3)
    resampled = ds.cast_column("audio", Audio(sampling_rate=8000))[0]["audio"]
    assert resampled["sampling_rate"] == 8000 and len(resampled["array"]) == len(tone) // 2
