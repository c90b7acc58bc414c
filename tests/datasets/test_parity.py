"""Every transform gives the rows (and features) Hugging Face ``datasets`` gives for the same call."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cove.datasets as cd
from tests.datasets.conftest import make_columns


def _upper(row):
    return {"text": row["text"].upper(), "n": len(row["text"])}


def _with_index(row, i):
    return {"pos": i * 2}


def _batched(batch):
    return {"n": [len(t) for t in batch["text"]], "first": [t.split()[0] for t in batch["text"]]}


def _explode(batch):  # changes the number of rows
    return {"word": [w for t in batch["text"] for w in t.split()]}


CASES = {
    "map": lambda ds, m: ds.map(_upper),
    "map_with_indices": lambda ds, m: ds.map(_with_index, with_indices=True),
    "map_batched": lambda ds, m: ds.map(_batched, batched=True, batch_size=7),
    "map_remove_columns": lambda ds, m: ds.map(_upper, remove_columns=["ids", "meta"]),
    "map_input_columns": lambda ds, m: ds.map(lambda t, s: {"x": f"{t}:{s}"}, input_columns=["text", "score"]),
    "map_explode": lambda ds, m: ds.map(_explode, batched=True, remove_columns=ds.column_names),
    "map_num_proc": lambda ds, m: ds.map(_batched, batched=True, num_proc=2),
    "map_unbatched_num_proc": lambda ds, m: ds.map(_upper, num_proc=2),
    "filter": lambda ds, m: ds.filter(lambda r: r["label"] == 1),
    "filter_batched": lambda ds, m: ds.filter(lambda b: [s > 0 for s in b["score"]], batched=True),
    "filter_indices": lambda ds, m: ds.filter(lambda r, i: i % 3 == 0, with_indices=True),
    "filter_num_proc": lambda ds, m: ds.filter(lambda r: "beta" in r["text"], num_proc=2),
    "select": lambda ds, m: ds.select([5, 3, 3, 199, 0]),
    "select_range": lambda ds, m: ds.select(range(10, 20)),
    "shuffle": lambda ds, m: ds.shuffle(seed=42),
    "shuffle_then_select": lambda ds, m: ds.shuffle(seed=1).select(range(50)),
    "sort": lambda ds, m: ds.sort("score"),
    "sort_multi": lambda ds, m: ds.sort(["label", "text"], reverse=[True, False]),
    "sort_after_filter": lambda ds, m: ds.filter(lambda r: r["label"] > 0).sort("text"),
    "shard": lambda ds, m: ds.shard(num_shards=3, index=1),
    "shard_strided": lambda ds, m: ds.shard(num_shards=3, index=2, contiguous=False),
    "rename_column": lambda ds, m: ds.rename_column("text", "sentence"),
    "rename_columns": lambda ds, m: ds.rename_columns({"text": "t", "label": "y"}),
    "remove_columns": lambda ds, m: ds.remove_columns(["meta", "score"]),
    "select_columns": lambda ds, m: ds.select_columns(["score", "text"]),
    "cast": lambda ds, m: ds.cast(m.Features({**ds.features, "label": m.Value("int8"), "score": m.Value("float32")})),
    "cast_column": lambda ds, m: ds.cast_column("label", m.ClassLabel(names=["a", "b", "c"])),
    "cast_list": lambda ds, m: ds.cast_column("ids", m.List(m.Value("int16"))),
    "flatten": lambda ds, m: ds.flatten(),
    "add_column": lambda ds, m: ds.add_column("k", list(range(len(ds)))),
    "class_encode_column": lambda ds, m: ds.class_encode_column("text"),
    "concatenate": lambda ds, m: m.concatenate_datasets([ds.select(range(10)), ds.shuffle(seed=3).select(range(5))]),
    "concatenate_axis1": lambda ds, m: m.concatenate_datasets(
        [ds.select_columns(["text"]), ds.select_columns(["label"])], axis=1),
    "interleave": lambda ds, m: m.interleave_datasets([ds.select(range(7)), ds.select(range(50, 60))]),
    "interleave_all_exhausted": lambda ds, m: m.interleave_datasets(
        [ds.select(range(7)), ds.select(range(50, 60))], stopping_strategy="all_exhausted"),
    "interleave_probabilities": lambda ds, m: m.interleave_datasets(
        [ds.select(range(30)), ds.select(range(100, 180))], probabilities=[0.3, 0.7], seed=5),
    "interleave_probabilities_all": lambda ds, m: m.interleave_datasets(
        [ds.select(range(30)), ds.select(range(100, 180))], probabilities=[0.3, 0.7], seed=5,
        stopping_strategy="all_exhausted"),
    "take_skip": lambda ds, m: ds.skip(20).take(30),
    "split_by_node": lambda ds, m: _split_by_node(m)(ds, rank=1, world_size=3),
}


def _split_by_node(m):
    if m is cd:
        return cd.split_dataset_by_node
    from datasets.distributed import split_dataset_by_node

    return split_dataset_by_node


def _both(hf):
    columns = make_columns()
    return cd.Dataset.from_dict(columns), hf.Dataset.from_dict(columns)


@pytest.mark.parametrize("case", list(CASES))
def test_transform_matches_datasets(case, hf):
    ours, theirs = _both(hf)
    got, want = CASES[case](ours, cd), CASES[case](theirs, hf)
    assert got.to_dict() == want.to_dict()
    assert got.features.to_dict() == want.features.to_dict()
    assert len(got) == len(want)


@pytest.mark.parametrize("kwargs", [{"test_size": 0.2, "seed": 0}, {"test_size": 13, "seed": 7},
                                    {"train_size": 0.5, "test_size": 0.3, "seed": 1},
                                    {"test_size": 0.1, "shuffle": False}, {"seed": 3}])
def test_train_test_split_matches_datasets(kwargs, hf):
    ours, theirs = _both(hf)
    got, want = ours.train_test_split(**kwargs), theirs.train_test_split(**kwargs)
    for split in ("train", "test"):
        assert got[split].to_dict() == want[split].to_dict()


@pytest.mark.parametrize("column", ["text", "label", "score"])
def test_unique_matches_datasets(column, hf):
    ours, theirs = _both(hf)
    assert ours.unique(column) == theirs.unique(column)
    assert ours.shuffle(seed=2).unique(column) == theirs.shuffle(seed=2).unique(column)


def test_indexing_matches_datasets(hf):
    ours, theirs = _both(hf)
    ours, theirs = ours.shuffle(seed=9), theirs.shuffle(seed=9)
    for key in (0, -1, 17, slice(3, 9), slice(None, None, 40), [4, 2, 4]):
        assert ours[key] == theirs[key], key
    assert ours["text"] == list(theirs["text"])
    assert list(ours)[:5] == list(theirs)[:5]


ITERABLE_CASES = {
    "interleave": lambda a, b, m: m.interleave_datasets([a, b]),
    "interleave_all_exhausted": lambda a, b, m: m.interleave_datasets([a, b], stopping_strategy="all_exhausted"),
    "interleave_probabilities": lambda a, b, m: m.interleave_datasets([a, b], probabilities=[0.2, 0.8], seed=3),
    "concatenate": lambda a, b, m: m.concatenate_datasets([b, a]),
    "map_filter": lambda a, b, m: a.map(_upper).filter(lambda r: r["n"] > 12),
    "map_batched_remove": lambda a, b, m: a.map(_explode, batched=True, batch_size=5, remove_columns=a.column_names),
    "take_skip": lambda a, b, m: a.skip(3).take(4),
}


@pytest.mark.parametrize("case", list(ITERABLE_CASES))
def test_iterable_transform_matches_datasets(case, hf):
    columns = make_columns(30)
    ours = [cd.Dataset.from_dict(columns).select(r).to_iterable_dataset(num_shards=2) for r in (range(12), range(20, 25))]
    theirs = [hf.Dataset.from_dict(columns).select(r).to_iterable_dataset(num_shards=2) for r in (range(12), range(20, 25))]
    assert list(ITERABLE_CASES[case](*ours, cd)) == list(ITERABLE_CASES[case](*theirs, hf))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(-5, 5)), st.one_of(st.none(), st.sampled_from("abcde"))),
                min_size=3, max_size=40), st.integers(0, 2**16))  # datasets fails on empty shards
def test_transforms_with_nulls_match_datasets(hf, rows, seed):
    columns = {"x": [r[0] for r in rows], "s": [r[1] for r in rows]}
    ours, theirs = cd.Dataset.from_dict(columns), hf.Dataset.from_dict(columns)
    for call in (lambda d: d.sort(["x", "s"], reverse=[False, True]),
                 lambda d: d.sort("s", null_placement="first"),
                 lambda d: d.shuffle(seed=seed).filter(lambda r: r["x"] is not None and r["x"] > 0),
                 lambda d: d.map(lambda r: {"y": None if r["x"] is None else r["x"] * 2}),
                 lambda d: d.shard(num_shards=3, index=seed % 3)):
        assert call(ours).to_dict() == call(theirs).to_dict()
    assert ours.unique("s") == theirs.unique("s")
    if any(v is not None for v in columns["s"]):
        got, want = ours.class_encode_column("s"), theirs.class_encode_column("s")
        assert got.to_dict() == want.to_dict() and got.features.to_dict() == want.features.to_dict()
