"""token-classification (alias ner): a label per token, or per entity with ``aggregation_strategy``.

As transformers' ``TokenClassificationPipeline``: ``none`` gives one ``{"entity", "score", "index",
"word", "start", "end"}`` per non-special token; ``simple`` groups adjacent tokens of one entity
(B-/I- tags) into ``{"entity_group", "score", "word", "start", "end"}``; ``first``, ``average`` and
``max`` first make every word agree on one label (the first token's, the mean scores', the most
confident token's), then group. Labels in ``ignore_labels`` (default ``["O"]``) are dropped. With
``stride``, a text longer than the model's limit is read in overlapping windows whose entities are
merged (the longer, then the more confident, wins).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cove.pipelines.base import Feature, Params, Pipeline

STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    task = "token-classification"
    token_level = True

    def sanitize(
        self,
        *,
        ignore_labels: list[str] | None = None,
        aggregation_strategy: str | None = None,
        stride: int | None = None,
        **params: Any,
    ) -> Params:
        self._reject(params)
        post: dict[str, Any] = {}
        pre: dict[str, Any] = {}
        if aggregation_strategy is not None:
            name = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
            if name not in STRATEGIES:
                raise ValueError(
                    f"aggregation_strategy must be one of {', '.join(STRATEGIES)}, not {aggregation_strategy!r}"
                )
            post["aggregation_strategy"] = name
        if ignore_labels is not None:
            post["ignore_labels"] = list(ignore_labels)
        if stride is not None:
            if stride >= self.tokenizer.model_max_length:
                raise ValueError("stride must be less than tokenizer.model_max_length")
            if post.get("aggregation_strategy", "none") == "none":
                raise ValueError(
                    "stride reads the text in windows whose entities are merged: pick an aggregation_strategy"
                    " other than 'none'"
                )
            pre["stride"] = stride
        return pre, {}, post

    def preprocess(self, inputs: Any, *, stride: int | None = None) -> list[Feature]:
        if not isinstance(inputs, str):
            raise ValueError(
                f"token-classification takes a string or a list of strings, not {type(inputs).__name__}"
            )
        limit = self.tokenizer.model_max_length
        options: dict[str, Any] = {"truncation": bool(limit and limit > 0)}
        if stride is not None:
            options["stride"] = stride
        enc = self.tokenizer(inputs, return_offsets_mapping=True, return_special_tokens_mask=True, **options)
        encodings = enc.encodings[:1] + (enc.encodings[0].overflowing if stride is not None else [])
        features = []
        for e in encodings:
            feature = {"input_ids": list(e.ids), "attention_mask": list(e.attention_mask)}
            if "token_type_ids" in enc:
                feature["token_type_ids"] = list(e.type_ids)
            feature.update(offsets=list(e.offsets), special=list(e.special_tokens_mask))
            features.append(feature)
        return features

    def postprocess(
        self,
        inputs: Any,
        outputs: list[dict[str, Any]],
        *,
        aggregation_strategy: str = "none",
        ignore_labels: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        ignore = ["O"] if ignore_labels is None else ignore_labels
        entities: list[dict[str, Any]] = []
        for out in outputs:
            logits = out["output"].float().cpu().numpy()  # (T, labels)
            shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
            scores = shifted / shifted.sum(axis=-1, keepdims=True)
            pre = self.gather(inputs, out, scores, aggregation_strategy)
            grouped = self.aggregate(pre, aggregation_strategy)
            entities += [
                e for e in grouped if e.get("entity") not in ignore and e.get("entity_group") not in ignore
            ]
        if len(outputs) > 1:
            entities = merge_overlapping(entities)
        return entities

    # --- steps, as transformers names them ----------------------------------------------------------

    def gather(
        self, sentence: str, out: dict[str, Any], scores: np.ndarray, strategy: str
    ) -> list[dict[str, Any]]:
        """One entry per non-special token: its token, scores, character span and whether it continues a word."""
        word_aware = getattr(self.tokenizer.backend.model, "continuing_subword_prefix", None)
        unk = self.tokenizer.unk_token_id
        pre = []
        for idx, token_scores in enumerate(scores):
            if out["special"][idx]:
                continue
            token_id = out["input_ids"][idx]
            word = self.tokenizer.convert_ids_to_tokens(token_id)
            start, end = out["offsets"][idx]
            ref = sentence[start:end]
            if word_aware:
                is_subword = len(word) != len(ref)
            else:  # transformers' fallback heuristic for tokenizers that do not mark word pieces
                is_subword = start > 0 and " " not in sentence[start - 1 : start + 1]
            if token_id == unk:
                word, is_subword = ref, False
            pre.append(
                {
                    "word": word,
                    "scores": token_scores,
                    "start": start,
                    "end": end,
                    "index": idx,
                    "is_subword": is_subword,
                }
            )
        return pre

    def label(self, index: int) -> str:
        id2label = self.model.config.id2label or {}
        return id2label.get(int(index), f"LABEL_{int(index)}")

    def aggregate(self, pre: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
        if strategy in ("none", "simple"):
            entities = []
            for p in pre:
                i = int(p["scores"].argmax())
                entities.append(
                    {
                        "entity": self.label(i),
                        "score": float(p["scores"][i]),
                        "index": p["index"],
                        "word": p["word"],
                        "start": p["start"],
                        "end": p["end"],
                    }
                )
        else:
            entities = self.aggregate_words(pre, strategy)
        return entities if strategy == "none" else self.group_entities(entities)

    def tokens_to_string(self, tokens: list[str]) -> str:
        decoder = self.tokenizer.backend.decoder
        return " ".join(tokens) if decoder is None else "".join(decoder.decode_chain(tokens))

    def aggregate_word(self, entities: list[dict[str, Any]], strategy: str) -> dict[str, Any]:
        if strategy == "first":
            scores = entities[0]["scores"]
        elif strategy == "max":
            scores = max(entities, key=lambda e: e["scores"].max())["scores"]
        else:  # average
            scores = np.nanmean(np.stack([e["scores"] for e in entities]), axis=0)
        i = int(scores.argmax())
        return {
            "entity": self.label(i),
            "score": float(scores[i]),
            "word": self.tokens_to_string([e["word"] for e in entities]),
            "start": entities[0]["start"],
            "end": entities[-1]["end"],
        }

    def aggregate_words(self, entities: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
        words: list[dict[str, Any]] = []
        group: list[dict[str, Any]] = []
        for e in entities:
            if group and not e["is_subword"]:
                words.append(self.aggregate_word(group, strategy))
                group = []
            group.append(e)
        if group:
            words.append(self.aggregate_word(group, strategy))
        return words

    def group_sub_entities(self, entities: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "entity_group": entities[0]["entity"].split("-", 1)[-1],
            "score": float(np.nanmean([e["score"] for e in entities])),
            "word": self.tokens_to_string([e["word"] for e in entities]),
            "start": entities[0]["start"],
            "end": entities[-1]["end"],
        }

    def group_entities(self, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = []
        current: list[dict[str, Any]] = []
        for e in entities:
            if current:
                bi, tag = split_tag(e["entity"])
                _, last_tag = split_tag(current[-1]["entity"])
                if tag != last_tag or bi == "B":
                    groups.append(self.group_sub_entities(current))
                    current = []
            current.append(e)
        if current:
            groups.append(self.group_sub_entities(current))
        return groups


def split_tag(name: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; a label without a B-/I- prefix continues (``"I"``)."""
    if name.startswith(("B-", "I-")):
        return name[0], name[2:]
    return "I", name


def merge_overlapping(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entities of overlapping windows: of two that overlap, the longer (then the more confident) stays."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda x: x["start"])
    merged = []
    previous = entities[0]
    for e in entities:
        if previous["start"] <= e["start"] < previous["end"]:
            length, previous_length = e["end"] - e["start"], previous["end"] - previous["start"]
            if length > previous_length or (length == previous_length and e["score"] > previous["score"]):
                previous = e
        else:
            merged.append(previous)
            previous = e
    merged.append(previous)
    return merged
