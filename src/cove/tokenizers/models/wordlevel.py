"""WordLevel: each pre-token is looked up whole (`tokenizers/src/models/wordlevel/mod.rs`)."""

from __future__ import annotations

from typing import Any

from cove.tokenizers.models.bpe import Token


class WordLevel:
    """The WordLevel model of a tokenizer.json."""

    def __init__(self, vocab: dict[str, int], *, unk_token: str = "<unk>") -> None:
        self.vocab = vocab
        self.vocab_r = {i: t for t, i in vocab.items()}
        self.unk_token = unk_token

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordLevel:
        return cls(dict(d["vocab"]), unk_token=d.get("unk_token", "<unk>"))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "WordLevel", "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1])),
                "unk_token": self.unk_token}

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def id_to_token(self, i: int) -> str | None:
        return self.vocab_r.get(i)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def tokenize(self, word: str) -> tuple[Token, ...]:
        tid = self.vocab.get(word)
        if tid is not None:
            return ((tid, word, 0, len(word)),)
        unk_id = self.vocab.get(self.unk_token)
        if unk_id is None:
            raise ValueError(f"unk_token {self.unk_token!r} is not in the vocabulary")
        return ((unk_id, self.unk_token, 0, len(word)),)
