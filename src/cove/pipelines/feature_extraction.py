"""feature-extraction: the base model's hidden states, nested lists of shape (1, T, H) per text as
transformers returns them (``return_tensors=True``: a (1, T, H) tensor). One difference: with
``batch_size > 1`` transformers returns each text's features padded to the longest text of its
batch (padding positions included); Cove returns each text's own T tokens, as one-by-one calls do.

sentence-similarity (Cove's, as the Hugging Face inference API defines it): ``{"source_sentence": s,
"sentences": [...]}`` -> the cosine similarity of ``s`` with each sentence. Sentences are embedded as
the checkpoint's sentence-transformers files say: ``1_Pooling/config.json`` picks the pooling (mean,
CLS, max, mean-sqrt-len, last token), ``modules.json`` lists ``Normalize`` when embeddings are unit
length (that module has no files: its folder may be absent), and ``sentence_bert_config.json`` sets
the truncation length. Without those files: mean pooling and the tokenizer's limit. :meth:`encode`
returns the embeddings themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from cove.pipelines.base import Feature, Params, Pipeline

TOKENIZE_OPTIONS = ("truncation", "max_length", "add_special_tokens")
POOLING_MODES = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "lasttoken")


class FeatureExtractionPipeline(Pipeline):
    task = "feature-extraction"
    token_level = True

    def __init__(self, model: Any, tokenizer: Any, *, folder: Path | None = None, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.folder = folder

    def sanitize(
        self,
        *,
        truncation: Any = None,
        tokenize_kwargs: dict[str, Any] | None = None,
        return_tensors: bool | None = None,
        **params: Any,
    ) -> Params:
        self._reject(params)
        pre = dict(tokenize_kwargs or {})
        if truncation is not None:
            if "truncation" in pre:
                raise ValueError("truncation given twice (as an argument and in tokenize_kwargs)")
            pre["truncation"] = truncation
        unknown = sorted(set(pre) - set(TOKENIZE_OPTIONS))
        if unknown:
            raise TypeError(f"unknown tokenize_kwargs: {', '.join(unknown)}")
        post = {} if return_tensors is None else {"return_tensors": return_tensors}
        return pre, {}, post

    def preprocess(self, inputs: Any, **options: Any) -> list[Feature]:
        if not isinstance(inputs, str):
            raise ValueError(f"{self.task} takes a string or a list of strings, not {type(inputs).__name__}")
        return [self.tokenize(inputs, **options)]

    def forward(self, batch: dict[str, torch.Tensor], **params: Any) -> torch.Tensor:
        """The model's first output, as transformers' pipeline takes it: a base model's last hidden state."""
        return self.model(**batch, return_dict=True)[0]

    def postprocess(self, inputs: Any, outputs: list[dict[str, Any]], *, return_tensors: bool = False) -> Any:
        hidden = outputs[0]["output"][None]  # (1, T, H)
        return hidden.clone() if return_tensors else hidden.tolist()


def read_sentence_config(folder: Path | None) -> dict[str, Any]:
    """Pooling mode, normalization and max length from a sentence-transformers package (defaults otherwise)."""
    out: dict[str, Any] = {"pooling": "mean_tokens", "normalize": False, "max_length": None}
    if folder is None:
        return out
    modules_file = folder / "modules.json"
    modules = json.loads(modules_file.read_text()) if modules_file.is_file() else []
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Normalize":
            out["normalize"] = True  # no files to read: Normalize has no parameters
        elif kind == "Pooling":
            config_file = folder / module.get("path", "1_Pooling") / "config.json"
            if config_file.is_file():
                config = json.loads(config_file.read_text())
                chosen = [m for m in POOLING_MODES if config.get(f"pooling_mode_{m}")]
                if len(chosen) != 1:
                    raise ValueError(
                        f"{config_file}: Cove pools with exactly one mode; this asks for {chosen}"
                    )
                out["pooling"] = chosen[0]
    bert_config = folder / "sentence_bert_config.json"
    if bert_config.is_file():
        out["max_length"] = json.loads(bert_config.read_text()).get("max_seq_length")
    return out


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """(B, T, H) hidden states and (B, T) mask -> (B, H), as sentence-transformers' Pooling does."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls_token":
        return hidden[:, 0]
    if mode == "max_tokens":
        return hidden.masked_fill(m == 0, -1e9).max(dim=1).values
    if mode == "lasttoken":
        last = mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.shape[0]), last]
    total = (hidden * m).sum(dim=1)
    count = m.sum(dim=1).clamp(min=1e-9)
    return total / (count.sqrt() if mode == "mean_sqrt_len_tokens" else count)


class SentenceSimilarityPipeline(Pipeline):
    task = "sentence-similarity"

    def __init__(self, model: Any, tokenizer: Any, *, folder: Path | None = None, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.sentence_config = read_sentence_config(folder)

    def sanitize(self, **params: Any) -> Params:
        return self._reject(params)

    def forward(self, batch: dict[str, torch.Tensor], **params: Any) -> torch.Tensor:
        hidden = self.model(**batch, return_dict=True)[0]  # the last hidden state (B, T, H)
        mask = batch.get("attention_mask", torch.ones_like(batch["input_ids"]))
        embeddings = pool(hidden, mask, self.sentence_config["pooling"])
        if self.sentence_config["normalize"]:
            embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
        return embeddings

    def _encode_text(self, text: str) -> Feature:
        if not isinstance(text, str):
            raise ValueError(f"sentences must be strings, not {type(text).__name__}")
        limit = self.sentence_config["max_length"]
        return self.tokenize(text, truncation=limit is not None, max_length=limit)

    def preprocess(self, inputs: Any, **params: Any) -> list[Feature]:
        if not isinstance(inputs, dict) or "source_sentence" not in inputs or "sentences" not in inputs:
            raise ValueError('sentence-similarity takes {"source_sentence": str, "sentences": [str, ...]}')
        sentences = inputs["sentences"]
        if isinstance(sentences, str) or not isinstance(sentences, list | tuple):
            raise ValueError('"sentences" must be a list of strings')
        return [self._encode_text(t) for t in [inputs["source_sentence"], *sentences]]

    def postprocess(self, inputs: Any, outputs: list[dict[str, Any]], **params: Any) -> list[float]:
        embeddings = torch.stack([o["output"] for o in outputs]).float()
        source, others = embeddings[:1], embeddings[1:]
        return torch.nn.functional.cosine_similarity(source, others, dim=-1).tolist()

    def encode(self, sentences: str | list[str]) -> torch.Tensor:
        """Embeddings of a sentence (H,) or a list of them (N, H), pooled and normalized as the checkpoint says."""
        one = isinstance(sentences, str)
        texts = [sentences] if one else list(sentences)
        outputs = self._run_features([self._encode_text(t) for t in texts], self.batch_size or 32, {})
        embeddings = torch.stack([o["output"] for o in outputs])
        return embeddings[0] if one else embeddings
