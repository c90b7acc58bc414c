"""question-answering (extractive): the span of the context that answers the question, with a
question-answering head's start and end logits.

The algorithm and outputs are transformers' ``QuestionAnsweringPipeline`` (4.x; transformers 5 dropped
it): the question and context are encoded as a pair, a context longer than ``max_seq_len`` (default
min(model limit, 384)) is read in windows overlapping by ``doc_stride`` (default min(max_seq_len // 2,
128)); in each window only context tokens may answer, start and end logits are softmaxed, and a span
scores ``p(start) * p(end)`` with ``start <= end < start + max_answer_len``. The best ``top_k`` spans
over all windows are returned as ``{"score", "start", "end", "answer"}`` (character offsets into the
context, widened to whole words unless ``align_to_words=False``); ``handle_impossible_answer`` adds
the empty answer scored by the [CLS] token.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cove.pipelines.base import Feature, Params, Pipeline
from cove.tokenizers.encoding import Encoding


def decode_spans(
    start: np.ndarray, end: np.ndarray, top_k: int, max_answer_len: int, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``top_k`` best (start, end) of one window from per-token probabilities (T,), as transformers."""
    outer = np.matmul(start[None, :, None], end[None, None, :])  # (1, T, T): p(start) * p(end)
    candidates = np.tril(np.triu(outer), max_answer_len - 1)  # end >= start, shorter than max_answer_len
    flat = candidates.flatten()
    if top_k == 1:
        order = np.array([np.argmax(flat)])
    elif len(flat) < top_k:
        order = np.argsort(-flat)
    else:
        best = np.argpartition(-flat, top_k)[0:top_k]
        order = best[np.argsort(-flat[best])]
    starts, ends = np.unravel_index(order, candidates.shape)[1:]
    keep = np.isin(starts, allowed.nonzero()) & np.isin(ends, allowed.nonzero())
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


def pair_sequence_ids(enc: Encoding) -> list[int | None]:
    """Which sequence (0 or 1) each token of a question/context window comes from (None: special).

    The overflowing windows of a pair may carry the range of only one sequence; the other one is then
    every non-special token outside it."""
    ids = enc.sequence_ids
    if len(enc.sequence_ranges) == 1:
        other = 1 - next(iter(enc.sequence_ranges))
        ids = [
            other if q is None and not special else q
            for q, special in zip(ids, enc.special_tokens_mask, strict=True)
        ]
    return ids


def word_span(enc: Encoding, s: int, e: int, sequence: int, align_to_words: bool) -> tuple[int, int]:
    """Character span of tokens s..e, widened to the words they fall in (as tokenizers' word_to_chars)."""
    if align_to_words:
        words, seqs = enc.word_ids, pair_sequence_ids(enc)
        if words[s] is not None and words[e] is not None:
            first = [
                i for i, (w, q) in enumerate(zip(words, seqs, strict=True)) if w == words[s] and q == sequence
            ]
            last = [
                i for i, (w, q) in enumerate(zip(words, seqs, strict=True)) if w == words[e] and q == sequence
            ]
            if first and last:
                return enc.offsets[first[0]][0], enc.offsets[last[-1]][1]
    return enc.offsets[s][0], enc.offsets[e][1]


class QuestionAnsweringPipeline(Pipeline):
    task = "question-answering"
    token_level = True

    def sanitize(
        self,
        *,
        top_k: int | None = None,
        doc_stride: int | None = None,
        max_answer_len: int | None = None,
        max_seq_len: int | None = None,
        max_question_len: int | None = None,
        handle_impossible_answer: bool | None = None,
        align_to_words: bool | None = None,
        **params: Any,
    ) -> Params:
        self._reject(params)
        pre = {k: v for k, v in (("doc_stride", doc_stride), ("max_seq_len", max_seq_len)) if v is not None}
        post: dict[str, Any] = {}
        if top_k is not None:
            if top_k < 1:
                raise ValueError(f"top_k must be >= 1, not {top_k}")
            post["top_k"] = top_k
        if max_answer_len is not None:
            if max_answer_len < 1:
                raise ValueError(f"max_answer_len must be >= 1, not {max_answer_len}")
            post["max_answer_len"] = max_answer_len
        if handle_impossible_answer is not None:
            post["handle_impossible_answer"] = handle_impossible_answer
        if align_to_words is not None:
            post["align_to_words"] = align_to_words
        return pre, {}, post

    def __call__(self, *args: Any, question: Any = None, context: Any = None, **params: Any) -> Any:
        """``pipe(question=q, context=c)``, ``pipe({"question": q, "context": c})``, or a list of such dicts;
        ``question`` and ``context`` may be lists of equal length (or one context for many questions)."""
        if args and (question is not None or context is not None):
            raise ValueError("pass the input either positionally or as question=/context=, not both")
        if len(args) > 1:
            raise ValueError("pass one input (a dict or a list of dicts), or question= and context=")
        if args:
            return super().__call__(args[0], **params)
        if question is None or context is None:
            raise ValueError("question-answering needs both question= and context=")
        if isinstance(question, list | tuple):
            contexts = list(context) if isinstance(context, list | tuple) else [context] * len(question)
            if len(contexts) != len(question):
                raise ValueError("question and context lists must have the same length")
            return super().__call__(
                [{"question": q, "context": c} for q, c in zip(question, contexts, strict=True)], **params
            )
        return super().__call__({"question": question, "context": context}, **params)

    def preprocess(
        self, inputs: Any, *, doc_stride: int | None = None, max_seq_len: int | None = None
    ) -> list[Feature]:
        if not isinstance(inputs, dict) or not {"question", "context"} <= set(inputs):
            raise ValueError('question-answering takes {"question": str, "context": str} (or a list of them)')
        if not all(isinstance(inputs[k], str) and inputs[k] for k in ("question", "context")):
            raise ValueError("question and context must be non-empty strings")
        max_seq_len = max_seq_len or min(self.tokenizer.model_max_length, 384)
        doc_stride = doc_stride if doc_stride is not None else min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) must not exceed max_seq_len ({max_seq_len})")
        question_first = self.tokenizer.padding_side == "right"
        question, context = inputs["question"], inputs["context"]
        first, second = (question, context) if question_first else (context, question)
        enc = self.tokenizer(
            first,
            second,
            truncation="only_second" if question_first else "only_first",
            max_length=max_seq_len,
            stride=doc_stride,
            return_token_type_ids=True,
            return_offsets_mapping=True,
        )
        windows = [enc.encodings[0], *enc.encodings[0].overflowing]
        cls = self.tokenizer.cls_token_id
        features = []
        for window in windows:
            # p_mask: 1 where a token cannot be part of the answer (question, special tokens), as transformers
            p_mask = [int(s != 1) if question_first else 0 for s in pair_sequence_ids(window)]
            if cls is not None:
                for i, token in enumerate(window.ids):
                    if token == cls:
                        p_mask[i] = 0
            feature = {
                "input_ids": list(window.ids),
                "attention_mask": list(window.attention_mask),
                "token_type_ids": list(window.type_ids),
                "p_mask": p_mask,
                "encoding": window,
            }
            features.append(feature)
        return features

    def forward(self, batch: dict[str, torch.Tensor], **params: Any) -> torch.Tensor:
        """(B, T, 2): each token's start and end logits."""
        out = self.model(**batch, return_dict=True)
        return torch.stack((out.start_logits, out.end_logits), dim=-1)

    def postprocess(
        self,
        inputs: Any,
        outputs: list[dict[str, Any]],
        *,
        top_k: int = 1,
        handle_impossible_answer: bool = False,
        max_answer_len: int = 15,
        align_to_words: bool = True,
    ) -> Any:
        min_null_score = 1000000.0
        answers = []
        sequence = 1 if self.tokenizer.padding_side == "right" else 0
        context = inputs["context"]
        for out in outputs:
            logits = out["output"].float().cpu().numpy()  # (T, 2)
            allowed = np.abs(np.array(out["p_mask"]) - 1) & np.array(out["attention_mask"])
            blocked = allowed == 0
            start = np.where(blocked, -10000.0, logits[:, 0])
            end = np.where(blocked, -10000.0, logits[:, 1])
            start = np.exp(start - start.max(axis=-1, keepdims=True))
            start = start / start.sum()
            end = np.exp(end - end.max(axis=-1, keepdims=True))
            end = end / end.sum()
            if handle_impossible_answer:
                min_null_score = min(min_null_score, (start[0] * end[0]).item())
            start[0] = end[0] = 0.0  # the [CLS] position is the empty answer, never a span
            starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, allowed)
            for s, e, score in zip(starts, ends, scores, strict=True):
                a, b = word_span(out["encoding"], int(s), int(e), sequence, align_to_words)
                answers.append({"score": score.item(), "start": a, "end": b, "answer": context[a:b]})
        if handle_impossible_answer:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers
