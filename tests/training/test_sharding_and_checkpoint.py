"""The pieces the Trainer stands on, alone: which rows each rank takes, and checkpoint weights written and
read with Cove's own safetensors code (a plain module, a sharded checkpoint, a mismatch)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cove.training import checkpoint, sharding


@pytest.mark.parametrize(("n", "world"), [(10, 2), (7, 3), (3, 4), (1, 2)])
def test_train_batches_cover_each_global_batch_once(n, world):
    per_rank = [sharding.train_batches(n, batch_size=2, rank=r, world=world, seed=5, epoch=1) for r in range(world)]
    order = sharding.epoch_order(n, seed=5, epoch=1)
    assert sorted(order) == list(range(n)) and (n < 3 or order != sharding.epoch_order(n, seed=5, epoch=2))
    assert len({len(b) for b in per_rank}) == 1  # every rank steps as often
    for step, global_batch in enumerate(order[i : i + 2 * world] for i in range(0, n, 2 * world)):
        shares = [per_rank[r][step] for r in range(world)]
        assert all(shares)  # no rank is left without rows
        assert {i for s in shares for i in s} == set(global_batch)  # repeats only fill empty ranks
        assert shares[0] == global_batch[: len(shares[0])]


def test_group_by_length_batches_rows_of_one_length():
    """Megabatches of 50 batches sorted by length: each batch's lengths are close, every row comes once,
    the longest row leads, and the order still changes with the epoch."""
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 60, (1000,), generator=gen).tolist()
    plain = sharding.train_batches(1000, batch_size=8, rank=0, world=1, seed=1, epoch=0)
    grouped = sharding.train_batches(1000, batch_size=8, rank=0, world=1, seed=1, epoch=0, lengths=lengths)
    assert sorted(i for b in grouped for i in b) == list(range(1000))
    assert lengths[grouped[0][0]] == max(lengths)

    def padding(batches):  # padded tokens a collator that pads to the longest row adds
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)

    assert padding(grouped) < padding(plain) / 5
    again = sharding.train_batches(1000, batch_size=8, rank=0, world=1, seed=1, epoch=1, lengths=lengths)
    assert again != grouped
    two = [sharding.train_batches(1000, batch_size=4, rank=r, world=2, seed=1, epoch=0, lengths=lengths)
           for r in range(2)]
    assert [a + b for a, b in zip(*two, strict=True)] == grouped  # ranks split each global batch


def test_stream_batches_cut_as_train_batches():
    rows = list(range(11))
    for rank in range(2):
        streamed = list(sharding.stream_batches(iter(rows), batch_size=3, rank=rank, world=2))
        assert streamed == [sharding.rank_share(rows[i : i + 6], rank, 2) for i in range(0, 11, 6)]
    assert list(sharding.stream_batches(iter(rows), batch_size=4, rank=0, world=1)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]


def test_eval_batches_pad_the_last_rank_with_row_zero():
    shards = [sharding.eval_batches(7, batch_size=2, rank=r, world=3) for r in range(3)]
    assert shards == [([[0, 1], [2]], 3), ([[3, 4], [5]], 3), ([[6, 0], [0]], 1)]
    assert sharding.eval_batches(5, batch_size=2, rank=0, world=1) == ([[0, 1], [2, 3], [4]], 5)


class Plain(nn.Module):  # no save_pretrained: the checkpoint is its state dict
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.register_buffer("steps", torch.arange(3, dtype=torch.int64))


def test_plain_module_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    model, other = Plain(), Plain()
    checkpoint.save_weights(model, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    checkpoint.load_weights(other, tmp_path, torch.device("cpu"))
    for (name, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="does not match the model: missing"):
        checkpoint.load_weights(nn.Linear(4, 3), tmp_path, torch.device("cpu"))
    with pytest.raises(FileNotFoundError, match="No model.safetensors"):
        checkpoint.read_weights(tmp_path / "nothing", torch.device("cpu"))


def test_sharded_checkpoint_is_read_through_its_index(tmp_path):
    from cove.formats import safetensors as st

    torch.manual_seed(0)
    model = Plain()
    st.save_sharded(dict(model.state_dict()), tmp_path, max_shard_size=40)  # one tensor per shard
    assert (tmp_path / "model.safetensors.index.json").is_file() and len(list(tmp_path.glob("model-*"))) > 1
    state = checkpoint.read_weights(tmp_path, torch.device("cpu"))
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_rotation_keeps_the_best_and_the_newest(tmp_path):
    for step in (2, 4, 6, 8):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-x").mkdir()  # not a checkpoint: never touched
    checkpoint.rotate(tmp_path, 1, str(tmp_path / "checkpoint-4"))
    assert [p.name for p in checkpoint.sorted_checkpoints(tmp_path)] == ["checkpoint-4", "checkpoint-8"]
    assert checkpoint.resolve(tmp_path, True).name == "checkpoint-8"
    with pytest.raises(FileNotFoundError, match="No checkpoint-N folder"):
        checkpoint.resolve(tmp_path / "empty", True)
