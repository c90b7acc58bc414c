"""fill-mask: the most likely tokens for the mask token(s) of a text, with a masked-LM head.

As transformers' ``FillMaskPipeline``: ``top_k`` (default 5) proposals ``{"score", "token",
"token_str", "sequence"}`` for one mask, a list of such lists for several masks; ``targets`` restricts
the candidates (a target missing from the vocabulary becomes its first token, with a warning). A
list of one text gives that text's result, as transformers does.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from cove.pipelines.base import Feature, Params, Pipeline

logger = logging.getLogger(__name__)


class FillMaskPipeline(Pipeline):
    task = "fill-mask"
    token_level = True

    def sanitize(
        self,
        *,
        top_k: int | None = None,
        targets: str | list[str] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **params: Any,
    ) -> Params:
        self._reject(params)
        if self.tokenizer.mask_token_id is None:
            raise ValueError("fill-mask needs a tokenizer with a mask_token; this one defines none")
        post: dict[str, Any] = {}
        if targets is not None:
            post["target_ids"] = self.target_ids(targets)
        if top_k is not None:
            if top_k < 1:
                raise ValueError(f"top_k must be >= 1, not {top_k}")
            post["top_k"] = top_k
        return dict(tokenizer_kwargs or {}), {}, post

    def target_ids(self, targets: str | list[str]) -> list[int]:
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in [targets] if isinstance(targets, str) else targets:
            token_id = vocab.get(target)
            if token_id is None:
                pieces = self.tokenizer(target, add_special_tokens=False, max_length=1, truncation=True)[
                    "input_ids"
                ]
                if not pieces:
                    logger.warning("target %r is not in the vocabulary and has no tokens; ignored", target)
                    continue
                token_id = pieces[0]
                logger.warning(
                    "target %r is not in the vocabulary; using %r",
                    target,
                    self.tokenizer.convert_ids_to_tokens(token_id),
                )
            ids.append(token_id)
        ids = list(set(ids))  # as transformers: the order of a set
        if not ids:
            raise ValueError("at least one target must be given when targets is passed")
        return ids

    def __call__(self, inputs: Any, **params: Any) -> Any:
        out = super().__call__(inputs, **params)
        if isinstance(inputs, list) and len(inputs) == 1:
            return out[0]
        return out

    def preprocess(self, inputs: Any, **options: Any) -> list[Feature]:
        if not isinstance(inputs, str):
            raise ValueError(f"fill-mask takes a string or a list of strings, not {type(inputs).__name__}")
        feature = self.tokenize(inputs, **options)
        if self.tokenizer.mask_token_id not in feature["input_ids"]:
            raise ValueError(f"no mask_token ({self.tokenizer.mask_token}) found in the input: {inputs!r}")
        return [feature]

    def postprocess(
        self,
        inputs: Any,
        outputs: list[dict[str, Any]],
        *,
        top_k: int = 5,
        target_ids: list[int] | None = None,
    ) -> Any:
        out = outputs[0]
        ids = torch.tensor(out["input_ids"])
        masked = torch.nonzero(ids == self.tokenizer.mask_token_id).squeeze(-1)
        probs = out["output"][masked].float().cpu().softmax(dim=-1)  # (masks, vocab)
        targets = None if target_ids is None else torch.tensor(target_ids)
        if targets is not None:
            probs = probs[..., targets]
            top_k = min(top_k, len(target_ids))
        values, predictions = probs.topk(top_k)
        single = values.shape[0] == 1
        pad = self.tokenizer.pad_token_id
        result = []
        for i, (row_values, row_predictions) in enumerate(
            zip(values.tolist(), predictions.tolist(), strict=True)
        ):
            row = []
            for v, p in zip(row_values, row_predictions, strict=True):
                token = int(targets[p]) if targets is not None else p
                tokens = ids.clone()
                tokens[masked[i]] = token
                tokens = tokens[tokens != pad] if pad is not None else tokens
                sequence = self.tokenizer.decode(tokens.tolist(), skip_special_tokens=single)
                row.append(
                    {
                        "score": v,
                        "token": token,
                        "token_str": self.tokenizer.decode([token]),
                        "sequence": sequence,
                    }
                )
            result.append(row)
        return result[0] if single else result
