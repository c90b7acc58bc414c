"""Generation: ids -> ids. ``generate`` (greedy, sampling, beam search) over a model's static KV cache,
for decoder-only models and encoder-decoders (:mod:`cove.generation.seq2seq`, its tensor-path contract);
pure logits processors and sampling functions; stopping rules; streaming detokenization.

Sits above ``cove.models`` and ``cove.tokenizers``; ``PreTrainedModel.generate`` imports it lazily.
"""

from cove.generation.config import GenerationConfig, UnknownGenerationOption
from cove.generation.generate import Prompt, decode_steps, generate
from cove.generation.streamers import IncrementalDecoder, TextIteratorStreamer, TextStreamer

__all__ = [
    "GenerationConfig",
    "IncrementalDecoder",
    "Prompt",
    "TextIteratorStreamer",
    "TextStreamer",
    "UnknownGenerationOption",
    "decode_steps",
    "generate",
]
