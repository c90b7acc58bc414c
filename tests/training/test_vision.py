"""The Trainer fine-tunes a small ViT on Fashion-MNIST (Debian's ``dataset-fashion-mnist``: IDX files)
through ``DataCollatorForImageClassification``, and the held-out accuracy is far above chance (10%)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

FASHION = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip): big-endian magic (0, 0, type 8 = uint8, dims), dims as uint32, then the bytes."""
    data = gzip.decompress(path.read_bytes())
    if data[:3] != b"\0\0\x08":
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(data[3])]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def fashion(split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    images = FASHION / f"{prefix}-images-idx3-ubyte.gz"
    if not images.is_file():
        pytest.skip("dataset-fashion-mnist is not installed (scripts/test-setup.sh installs it)")
    return read_idx(images)[:n], read_idx(FASHION / f"{prefix}-labels-idx1-ubyte.gz")[:n]


@pytest.mark.vision_full  # ~30 s on a quiet machine: `make test-vision`
def test_trainer_fine_tunes_vit_on_fashion_mnist(tmp_path):
    from cove import Dataset, Trainer, TrainingArguments
    from cove.models import ViTConfig, ViTForImageClassification
    from cove.processors import ImageProcessor
    from cove.training import DataCollatorForImageClassification

    train_x, train_y = fashion("train", 800)
    test_x, test_y = fashion("test", 300)
    train = Dataset.from_dict({"image": train_x.tolist(), "label": train_y.tolist()})
    held_out = Dataset.from_dict({"image": test_x.tolist(), "label": test_y.tolist()})
    processor = ImageProcessor(size={"height": 28, "width": 28})  # grey -> RGB, scaled to [-1, 1]
    config = ViTConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=28,
        patch_size=7, id2label=dict(enumerate(CLASSES)), label2id={c: i for i, c in enumerate(CLASSES)},
    )
    torch.manual_seed(0)
    model = ViTForImageClassification(config)

    def accuracy(pred):
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    args = TrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=8, per_device_train_batch_size=32, per_device_eval_batch_size=100,
        learning_rate=2e-3, warmup_ratio=0.1, weight_decay=0.01, save_strategy="no", logging_steps=25,
        remove_unused_columns=False, report_to="none", disable_tqdm=True, seed=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=held_out,
                      data_collator=DataCollatorForImageClassification(processor), compute_metrics=accuracy)
    before = trainer.evaluate()["eval_accuracy"]
    trainer.train()
    after = trainer.evaluate()
    print(f"Fashion-MNIST, 800 training images, 300 held out: accuracy {before:.3f} -> {after['eval_accuracy']:.3f}")
    assert after["eval_accuracy"] > 0.6 > before
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert losses[-1] < losses[0]
    # the fine-tuned model saves and classifies through the pipeline
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    from cove.pipelines import pipeline

    top = pipeline("image-classification", model=tmp_path / "model")(test_x[0], top_k=1)[0]
    assert top["label"] in CLASSES
