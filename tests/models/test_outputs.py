"""Output objects read as transformers' do: attributes, a tuple of the set fields, a dict of them."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.utils._pytree as pytree

from cove.models.outputs import CausalLMOutputWithPast, QuestionAnsweringModelOutput, SequenceClassifierOutput


def test_a_tuple_and_a_dict_of_the_set_fields():
    logits, loss = torch.randn(2, 3), torch.tensor(0.5)
    out = SequenceClassifierOutput(logits=logits)
    assert out.loss is None and out[0] is logits and list(out.keys()) == ["logits"]
    assert out.to_tuple() == (logits,) and "loss" not in out and out.get("loss", 7) == 7
    out.loss = loss  # a field set later joins the dict and the tuple at the end, as in transformers
    assert list(out.keys()) == ["logits", "loss"] and out[0] is logits and out[1] is loss
    assert out["loss"] is loss and out[:2] == (logits, loss) and isinstance(out, dict)
    out.loss = None
    assert list(out) == ["logits"]
    with pytest.raises(KeyError):
        out["hidden_states"]
    with pytest.raises(TypeError):
        out.pop("logits")
    with pytest.raises(TypeError):
        out.update(loss=loss)
    with pytest.raises(KeyError, match="no field 'scores'"):
        out["scores"] = logits


def test_past_key_values_is_the_cache_under_its_older_name():
    cache = object()
    out = CausalLMOutputWithPast(logits=torch.zeros(1), cache=cache)
    assert out.past_key_values is cache and out["past_key_values"] is cache and "past_key_values" in out
    assert list(out.keys()) == ["logits", "cache"]


def test_pickle_copy_and_pytree_keep_the_fields():
    out = QuestionAnsweringModelOutput(start_logits=torch.randn(2, 4), end_logits=torch.randn(2, 4))
    for again in (pickle.loads(pickle.dumps(out)), copy.deepcopy(out)):
        assert type(again) is type(out) and list(again.keys()) == list(out.keys())
        assert torch.equal(again.end_logits, out.end_logits) and again.loss is None
    leaves, spec = pytree.tree_flatten(out)  # how FSDP and DDP find the tensors of an output
    assert len(leaves) == 2 and all(isinstance(t, torch.Tensor) for t in leaves)
    rebuilt = pytree.tree_unflatten([t * 2 for t in leaves], spec)
    assert type(rebuilt) is QuestionAnsweringModelOutput and torch.equal(
        rebuilt.start_logits, out.start_logits * 2
    )
