"""cove.tokenizers: text <-> ids, computing exactly what Hugging Face `tokenizers` computes.

`Tokenizer` reads and writes tokenizer.json; `AutoTokenizer` is the transformers-style front end
(tokenizer_config.json, chat templates). Nothing here imports torch, `tokenizers` or `transformers`.
"""

from __future__ import annotations

from typing import Any

from cove.tokenizers.added_vocabulary import AddedToken
from cove.tokenizers.encoding import Encoding
from cove.tokenizers.tokenizer import Tokenizer

__all__ = ["AddedToken", "AutoTokenizer", "Encoding", "PreTrainedTokenizer", "Tokenizer"]


def __getattr__(name: str) -> Any:
    if name in ("AutoTokenizer", "PreTrainedTokenizer"):
        from cove.tokenizers import auto

        return getattr(auto, name)
    raise AttributeError(name)
