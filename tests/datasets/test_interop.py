"""Files written by Hugging Face ``datasets`` load in Cove with the same rows and features, and the
reverse: ``save_to_disk`` folders, Parquet, and data folders read by ``load_dataset``."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import cove.datasets as cd
from tests.datasets.conftest import make_columns


def _png(width: int, height: int, value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (value, 0, 255 - value)).save(buf, format="PNG")
    return buf.getvalue()


def _rich(m):
    """The same rows and features in module ``m`` (cove.datasets or datasets)."""
    features = m.Features({
        "text": m.Value("string"),
        "label": m.ClassLabel(names=["neg", "neu", "pos"]),
        "ids": m.List(m.Value("int32")),
        "pair": m.List(m.Value("float32"), length=2),
        "tags": m.LargeList(m.Value("string")),
        "meta": {"a": m.Value("int64"), "b": m.Value("string")},
        "image": m.Image(),
        "audio": {"bytes": m.Value("binary"), "path": m.Value("string")},
        "when": m.Value("timestamp[ms]"),
    })
    from cove.datasets.features import wav_bytes

    rows = {
        "text": ["one", "two", None],
        "label": [0, 2, 1],
        "ids": [[1, 2], [], [3]],
        "pair": [[0.5, 1.0], [2.0, 3.0], [4.0, 5.0]],
        "tags": [["x"], ["y", "z"], []],
        "meta": [{"a": 1, "b": "p"}, {"a": 2, "b": "q"}, {"a": 3, "b": None}],
        "image": [{"bytes": _png(4, 3, v), "path": None} for v in (0, 100, 200)],
        "audio": [{"bytes": wav_bytes(np.linspace(-0.5, 0.5, 80) * k, 8000), "path": None} for k in (1, 0.5, 0)],
        "when": [1_700_000_000_000, 1_700_000_100_000, None],
    }
    # datasets encodes audio only with torchcodec installed: store the struct, then cast (no re-encoding)
    return m.Dataset.from_dict(rows, features=features).cast_column("audio", m.Audio())


def _stored(ds) -> dict:
    """The rows as stored (media undecoded), to compare across libraries."""
    return ds.cast(ds.features.__class__({k: (type(v)(decode=False) if type(v).__name__ in ("Image", "Audio") else v)
                                          for k, v in ds.features.items()})).to_dict()


def _assert_same(ours, theirs):
    assert ours.features.to_dict() == theirs.features.to_dict()
    assert _stored(ours) == _stored(theirs)


def test_save_to_disk_from_datasets_loads_in_cove(tmp_path, hf):
    theirs = _rich(hf)
    theirs.save_to_disk(tmp_path / "ds")
    ours = cd.load_from_disk(tmp_path / "ds")
    _assert_same(ours, theirs)
    assert ours.cache_files[0]["filename"].endswith("data-00000-of-00001.arrow")  # memory-mapped, not copied
    image = ours[1]["image"]
    assert image.size == (4, 3) and image.getpixel((0, 0)) == (100, 0, 155)
    audio = ours[0]["audio"]
    assert audio["sampling_rate"] == 8000
    np.testing.assert_allclose(audio["array"], np.linspace(-0.5, 0.5, 80), atol=1e-3)


def test_save_to_disk_from_cove_loads_in_datasets(tmp_path, hf):
    ours = _rich(cd)
    ours.save_to_disk(tmp_path / "ds", num_shards=2)
    theirs = hf.load_from_disk(str(tmp_path / "ds"))
    _assert_same(ours, theirs)


def test_dataset_dict_both_ways(tmp_path, hf):
    columns = make_columns(50)
    theirs = hf.DatasetDict({"train": hf.Dataset.from_dict(columns), "test": hf.Dataset.from_dict(columns).select(range(5))})
    theirs.save_to_disk(tmp_path / "hf")
    ours = cd.load_from_disk(tmp_path / "hf")
    assert list(ours) == ["train", "test"] and ours["test"].to_dict() == theirs["test"].to_dict()
    ours.save_to_disk(tmp_path / "cove")
    again = hf.load_from_disk(str(tmp_path / "cove"))
    assert again["train"].to_dict() == theirs["train"].to_dict()
    assert again["train"].features == theirs["train"].features


def test_parquet_both_ways(tmp_path, hf):
    _rich(hf).to_parquet(tmp_path / "hf.parquet")
    ours = cd.Dataset.from_parquet(str(tmp_path / "hf.parquet"))
    _assert_same(ours, _rich(hf))
    _rich(cd).to_parquet(tmp_path / "cove.parquet")
    theirs = hf.Dataset.from_parquet(str(tmp_path / "cove.parquet"))
    _assert_same(_rich(cd), theirs)


def test_map_on_file_backed_data_matches(tmp_path, hf):
    columns = make_columns(120)
    hf.Dataset.from_dict(columns).save_to_disk(tmp_path / "ds")
    ours, theirs = cd.load_from_disk(tmp_path / "ds"), hf.load_from_disk(str(tmp_path / "ds"))
    got = ours.map(lambda r: {"len": len(r["text"])}).filter(lambda r: r["len"] > 8).shuffle(seed=4)
    want = theirs.map(lambda r: {"len": len(r["text"])}).filter(lambda r: r["len"] > 8).shuffle(seed=4)
    assert got.to_dict() == want.to_dict()
    assert got.features.to_dict() == want.features.to_dict()


def _write_folder(root, kind: str, columns: dict):
    import pandas as pd

    root.mkdir()
    splits = {"train": slice(0, 30), "validation": slice(30, 40), "test": slice(40, 50)}
    for split, part in splits.items():
        df = pd.DataFrame({k: v[part] for k, v in columns.items()})
        if kind == "csv":
            df.to_csv(root / f"{split}.csv", index=False)
        elif kind == "jsonl":
            df.to_json(root / f"my-{split}.jsonl", orient="records", lines=True)
        elif kind == "parquet":
            (root / split).mkdir()
            df.to_parquet(root / split / "part-0.parquet", index=False)
        else:
            (root / f"{split}.txt").write_text("\n".join(df["text"]) + "\n")


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet", "txt"])
def test_load_dataset_folder_matches_datasets(tmp_path, kind, hf):
    columns = {k: v for k, v in make_columns(50).items() if k in ("text", "label", "score")}
    _write_folder(tmp_path / "data", kind, columns)
    ours = cd.load_dataset(str(tmp_path / "data"))
    theirs = hf.load_dataset(str(tmp_path / "data"))
    assert list(ours) == list(theirs) == ["train", "validation", "test"]
    for split in ours:
        assert ours[split].to_dict() == theirs[split].to_dict(), split
        assert ours[split].features.to_dict() == theirs[split].features.to_dict()


def test_load_dataset_card_configs_and_split_slicing(tmp_path, hf):
    root = tmp_path / "repo"
    (root / "en").mkdir(parents=True)
    (root / "fr").mkdir()
    for lang in ("en", "fr"):
        for split, n in (("train", 8), ("test", 3)):
            rows = [{"text": f"{lang}-{split}-{i}", "n": i} for i in range(n)]
            (root / lang / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (root / "README.md").write_text(
        "---\nconfigs:\n- config_name: en\n  default: true\n  data_files:\n  - split: train\n    path: en/train.jsonl\n"
        "  - split: test\n    path: en/test.jsonl\n- config_name: fr\n  data_files: fr/*.jsonl\n---\n# Demo\n")
    assert cd.load_dataset(str(root))["test"].to_dict() == hf.load_dataset(str(root))["test"].to_dict()
    fr_ours, fr_theirs = cd.load_dataset(str(root), "fr"), hf.load_dataset(str(root), "fr")
    assert list(fr_ours) == ["train"] and fr_ours["train"].to_dict() == fr_theirs["train"].to_dict()
    for split in ("train[:3]", "train[25%:75%]", "train[-2:]", "train+test"):
        assert cd.load_dataset(str(root), split=split).to_dict() == \
            hf.load_dataset(str(root), split=split).to_dict(), split


def test_load_dataset_format_with_data_files(tmp_path, hf):
    for i in range(2):
        (tmp_path / f"part{i}.csv").write_text("a,b\n" + "".join(f"{i * 10 + j},x{j}\n" for j in range(5)))
    files = {"train": str(tmp_path / "part*.csv"), "test": [str(tmp_path / "part1.csv")]}
    ours, theirs = cd.load_dataset("csv", data_files=files), hf.load_dataset("csv", data_files=files)
    assert ours["train"].to_dict() == theirs["train"].to_dict()
    assert ours["test"].to_dict() == theirs["test"].to_dict()


def test_index_maps_over_many_chunks_match(tmp_path, hf):
    """Reading through an index map gathers rows chunk by chunk (never concatenating the mapped file)."""
    hf.Dataset.from_dict(make_columns(3500, seed=1)).save_to_disk(tmp_path / "ds")  # 4 record batches
    ours, theirs = cd.load_from_disk(tmp_path / "ds"), hf.load_from_disk(str(tmp_path / "ds"))
    assert ours.data.column("text").num_chunks > 1
    got, want = ours.shuffle(seed=8), theirs.shuffle(seed=8)
    assert got[[3, 3499, 1000, 7]] == want[[3, 3499, 1000, 7]]
    assert got.map(_len).filter(lambda r: r["len"] % 2 == 0).to_dict() == \
        want.map(_len).filter(lambda r: r["len"] % 2 == 0).to_dict()
    assert [b["label"] for b in got.iter(batch_size=999)] == [b["label"] for b in want.iter(batch_size=999)]
    got.save_to_disk(tmp_path / "shuffled")
    assert hf.load_from_disk(str(tmp_path / "shuffled")).to_dict() == want.to_dict()


def _len(row):
    return {"len": len(row["text"])}


DTYPES = ["null", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
          "float32", "float64", "string", "large_string", "binary", "large_binary", "date32", "date64",
          "timestamp[s]", "timestamp[us, tz=UTC]", "time32[ms]", "time64[us]", "duration[ns]", "decimal128(10, 2)"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_value_dtypes_match_datasets(dtype, hf):
    ours, theirs = cd.Features({"x": cd.Value(dtype)}), hf.Features({"x": hf.Value(dtype)})
    assert ours.to_dict() == theirs.to_dict()
    assert ours.arrow_schema.field("x").type == theirs.arrow_schema.field("x").type
    assert cd.Features.from_arrow_schema(theirs.arrow_schema.remove_metadata()).to_dict() == \
        hf.Features.from_arrow_schema(theirs.arrow_schema.remove_metadata()).to_dict()
