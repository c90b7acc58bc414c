"""Image classification, Cove against transformers on the same weights: images per second of the
model's forward on 224 x 224 pixel values (batch 1 and batch 8) and of the whole
``image-classification`` pipeline on a real photo (decode, resize, crop, normalize, forward, top-5),
with one thread and two, plus each process's peak RSS. Prints a table and the ratio Cove/transformers
(>1: Cove faster; for RSS, transformers/Cove: >1 Cove smaller). Each rate is given per wall second and
per CPU second of the process.

    .venv/bin/python bench/vision.py                 # EfficientNet-Lite0 (the seed's) and a ViT-B/16
    .venv/bin/python bench/vision.py --models lite0 --seconds 3

Each figure is also measured with both libraries in one process, their calls alternating and CPU
time summed per library ("interleav" rows, images per CPU second): on a shared machine that is the
fairest comparison (what other jobs take falls on both alike).

Models: ``lite0`` is the seed's EfficientNet-Lite0 import (real weights); ``vit-base`` is a ViT-B/16
(86M parameters, 1,000 classes) with random weights made by transformers. Each (library, model,
threads) runs in its own process, so memory and thread settings are its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# keep bench/ off the path: this file's name must not shadow a module a library imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def prepare(root: Path, models: list[str]) -> dict[str, str]:
    """The checkpoint folders, each with a preprocessor_config.json both libraries read."""
    folders = {}
    if "lite0" in models:
        from cove.seed import vision

        folders["lite0"] = str(root / "lite0")
        vision.convert_lite0(Path(folders["lite0"]))
    if "vit-base" in models:
        import torch
        import transformers as T

        torch.manual_seed(0)
        config = T.ViTConfig(num_labels=1000)
        T.ViTForImageClassification(config).save_pretrained(root / "vit-base")
        T.ViTImageProcessorPil().save_pretrained(root / "vit-base")
        folders["vit-base"] = str(root / "vit-base")
    return folders


def rate(step, seconds: float, images: int) -> tuple[float, float]:
    """Images per wall second and per CPU second of this process (all its threads) of ``step()``
    (``images`` per call), after a warm-up call, for ``seconds`` of wall time. On a shared machine the
    CPU figure is the steadier one: it does not count the time other jobs held the cores."""
    step()
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds or n < 3:
        step()
        n += 1
    return n * images / (time.perf_counter() - start), n * images / (time.process_time() - cpu)


def load(library: str, folder: str):
    """(model, image-classification pipeline) of ``library`` on ``folder``."""
    if library == "cove":
        from cove import AutoModelForImageClassification, pipeline

        return AutoModelForImageClassification.from_pretrained(folder).eval(), pipeline(
            "image-classification", model=folder
        )
    import warnings

    import transformers as T

    warnings.simplefilter("ignore")
    return T.AutoModelForImageClassification.from_pretrained(folder).eval(), T.pipeline(
        "image-classification", model=folder
    )


def interleaved(folder: str, threads: int, rounds: int, photo: str) -> dict:
    """Both libraries in one process, their calls alternating, CPU time summed per library: images
    per CPU second of each, with the load of other jobs falling on both alike."""
    import torch

    torch.set_num_threads(threads)
    loaded = {lib: load(lib, folder) for lib in ("cove", "transformers")}
    out: dict = {}
    steps = {}
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        steps[f"forward_b{batch}"] = (batch, {lib: (lambda m=m, x=x: m(pixel_values=x)) for lib, (m, _) in loaded.items()})
    steps["pipeline"] = (1, {lib: (lambda p=p: p(photo, top_k=5)) for lib, (_, p) in loaded.items()})
    with torch.inference_mode():
        for key, (images, calls) in steps.items():
            spent = dict.fromkeys(calls, 0.0)
            for call in calls.values():
                call()  # warm-up
            for _ in range(rounds):
                for lib, call in calls.items():
                    start = time.process_time()
                    call()
                    spent[lib] += time.process_time() - start
            out[key] = {lib: rounds * images / t for lib, t in spent.items()}
    return out


def child(library: str, folder: str, threads: int, seconds: float, photo: str) -> dict:
    import torch

    torch.set_num_threads(threads)
    model, classify = load(library, folder)
    out = {}
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))

        def forward(x=x):
            with torch.inference_mode():
                model(pixel_values=x)

        out[f"forward_b{batch}"], out[f"forward_b{batch}_cpu"] = rate(forward, seconds, batch)
    out["pipeline"], out["pipeline_cpu"] = rate(lambda: classify(photo, top_k=5), seconds, 1)
    out["top1"] = classify(photo, top_k=1)[0]["label"]
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="lite0,vit-base")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per figure")
    parser.add_argument("--rounds", type=int, default=10, help="alternating calls per figure (interleaved)")
    parser.add_argument("--child", nargs=4, metavar=("LIBRARY", "FOLDER", "THREADS", "PHOTO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        library, folder, threads, photo = args.child
        if library == "both":
            print(json.dumps(interleaved(folder, int(threads), args.rounds, photo)))
        else:
            print(json.dumps(child(library, folder, int(threads), args.seconds, photo)))
        return

    from cove.seed.assets import skimage_photo

    photo = str(skimage_photo("chelsea.png"))
    models = args.models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folders = prepare(Path(tmp), models)
        print(f"{'model':9} {'thr':>3} {'measure':11} {'unit':9} {'cove':>9} {'transformers':>12} {'ratio':>6}")
        for name in models:
            for threads in map(int, args.threads.split(",")):
                results = {}
                for library in ("cove", "transformers"):
                    cmd = [sys.executable, __file__, "--seconds", str(args.seconds),
                           "--child", library, folders[name], str(threads), photo]
                    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TRANSFORMERS_VERBOSITY": "error"}
                    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                    results[library] = json.loads(proc.stdout.strip().splitlines()[-1])
                cove, ref = results["cove"], results["transformers"]
                for key in ("forward_b1", "forward_b8", "pipeline"):
                    for what, unit in ((key, "img/s"), (key + "_cpu", "img/cpu-s")):
                        ratio = cove[what] / ref[what]
                        print(f"{name:9} {threads:>3} {key:11} {unit:9} {cove[what]:>9.1f} {ref[what]:>12.1f}"
                              f" {ratio:>6.2f}")
                print(f"{name:9} {threads:>3} {'peak RSS':11} {'MB':9} {cove['peak_rss_mb']:>9.0f}"
                      f" {ref['peak_rss_mb']:>12.0f} {ref['peak_rss_mb'] / cove['peak_rss_mb']:>6.2f}")
                print(f"{name:9} {threads:>3} top-1 on chelsea.png: cove {cove['top1']!r}, transformers {ref['top1']!r}")
                cmd = [sys.executable, __file__, "--rounds", str(args.rounds), "--child", "both", folders[name],
                       str(threads), photo]
                env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TRANSFORMERS_VERBOSITY": "error"}
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                for key, rates in json.loads(proc.stdout.strip().splitlines()[-1]).items():
                    print(f"{name:9} {threads:>3} {key:11} {'interleav':9} {rates['cove']:>9.1f}"
                          f" {rates['transformers']:>12.1f} {rates['cove'] / rates['transformers']:>6.2f}")


if __name__ == "__main__":
    main()
