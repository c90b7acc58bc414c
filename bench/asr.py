"""Cove vs transformers: Whisper tiny.en speech recognition speed on the same converted weights.

Each case runs in a fresh process (so peak RSS is that case's): load the model and its feature
extractor, one warm-up clip, then every LibriVox clip of Debian's ``pocketsphinx-testdata`` (24.7
s of speech in five clips) transcribed greedily (or with ``--num-beams``), one clip at a time:
log-mel features, ``generate``, decode (``--repeat`` passes, the best kept). Real-time factor = seconds of audio per CPU second of the
process (so other jobs on a shared machine do not count; with 2 threads both threads' CPU counts);
the wall seconds are printed too. Both libraries must produce the same transcripts; the table says
if they do.

The model is the package's CTranslate2 Whisper tiny.en converted once with
``cove.formats.ctranslate2.convert_whisper`` into ``--cache`` (default ~/.cache/cove-bench).

Run: ``.venv/bin/python bench/asr.py [--threads 1 2] [--repeat 2] [--num-beams 5]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not bench/, whose tokenizers.py would shadow the `tokenizers` package

CHILD = textwrap.dedent(
    """
    import hashlib, json, resource, sys, time
    import torch
    lib, folder, threads, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    clips, beams = json.loads(sys.argv[5]), int(sys.argv[6])
    torch.set_num_threads(threads)
    from cove.processors.audio import load_audio
    audio = [load_audio(path, 16000) for path in clips]
    if lib == "cove":
        from cove.models import AutoModelForSeq2SeqLM
        from cove.processors import auto
        model = AutoModelForSeq2SeqLM.from_pretrained(folder)
        processor = auto.AutoProcessor.from_pretrained(folder)
        features = lambda x: processor.feature_extractor(x, sampling_rate=16000)["input_features"]
    else:
        import transformers as T
        model = T.WhisperForConditionalGeneration.from_pretrained(folder).eval()
        processor = T.WhisperProcessor.from_pretrained(folder)
        features = lambda x: processor.feature_extractor(x, sampling_rate=16000, return_tensors="pt").input_features

    def transcribe(x):
        with torch.inference_mode():
            ids = model.generate(features(x), num_beams=beams)
        return processor.batch_decode(ids, skip_special_tokens=True)[0]

    transcribe(audio[0])  # warm-up
    best = None
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        texts = [transcribe(x) for x in audio]
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if best is None or cpu < best[0]:
            best = (cpu, wall)
    seconds = sum(len(x) for x in audio) / 16000
    print(json.dumps({
        "audio_s": seconds, "cpu_s": best[0], "wall_s": best[1], "rtf": seconds / best[0],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "texts": hashlib.sha256("|".join(texts).encode()).hexdigest()[:12], "sample": texts[1],
    }))
    """
)


def model_folder(cache: Path) -> Path:
    from cove.formats.ctranslate2 import convert_whisper
    from cove.seed import assets

    target = cache / "whisper-tiny-en-hf"
    if not (target / "model.safetensors").is_file():
        convert_whisper(assets.whisper_folder(), target)
    return target


def main() -> None:
    from cove.seed.speech import librivox_clips

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--num-beams", type=int, default=1, help="beam search (5: the pipelines' default)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "cove-bench")
    args = parser.parse_args()
    clips = [str(p) for p, _ in librivox_clips()]
    if not clips:
        sys.exit("install pocketsphinx-testdata (scripts/test-setup.sh) for the LibriVox clips")
    folder = model_folder(args.cache)
    print("| threads | library | audio s | CPU s | wall s | RTF (audio s / CPU s) | peak RSS MB | transcripts |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for threads in args.threads:
        results = {}
        for lib in ("transformers", "cove"):
            cmd = [sys.executable, "-c", CHILD, lib, str(folder), str(threads), str(args.repeat), json.dumps(clips), str(args.num_beams)]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                sys.exit(out.stderr[-2000:])
            results[lib] = r = json.loads(out.stdout.strip().splitlines()[-1])
            same = "same" if lib == "cove" and r["texts"] == results["transformers"]["texts"] else r["texts"]
            print(
                f"| {threads} | {lib} | {r['audio_s']:.1f} | {r['cpu_s']:.2f} | {r['wall_s']:.2f} | {r['rtf']:.1f} |"
                f" {r['rss_mb']:.0f} | {same} |"
            )
        ratio = results["cove"]["rtf"] / results["transformers"]["rtf"]
        print(f"| {threads} | cove / transformers | | | | **{ratio:.2f}x** | | |")


if __name__ == "__main__":
    main()
