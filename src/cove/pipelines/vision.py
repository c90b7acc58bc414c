"""Image pipelines, with transformers' outputs:

- ``image-classification``: an image -> the ``top_k`` (default 5) ``{"label", "score"}``, best first;
  softmax, or sigmoid for one label or ``multi_label_classification`` (transformers' choice).
- ``zero-shot-image-classification``: an image and ``candidate_labels`` -> one ``{"score", "label"}``
  per label, best first: softmax over CLIP's ``logits_per_image`` for captions made by
  ``hypothesis_template`` (default ``"This is a photo of {}."``).
- ``image-feature-extraction``: an image -> the model's last hidden state as nested lists (1, T, D),
  or its pooled output with ``pool=True``; ``return_tensors=True`` keeps the tensor.

Images are paths, bytes, PIL images or arrays (:func:`cove.processors.load_image`: EXIF orientation,
RGB, a clear error for a corrupt or huge image), processed by the checkpoint's
``preprocessor_config.json``; lists are run ``batch_size`` images per forward.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from cove.pipelines.base import Feature, Params, Pipeline
from cove.pipelines.text_classification import apply_function, check_top_k, default_function, function_name

_UNSET: Any = object()


class ImagePipeline(Pipeline):
    """A model and its image processor (``self.processor``; ``self.tokenizer`` is the same object)."""

    def __init__(self, model: Any, processor: Any, *, folder: Any = None, **options: Any) -> None:
        super().__init__(model, processor, **options)
        self.processor = processor

    #: processor -> what this task loads from a folder: ``AutoImageProcessor`` or ``AutoProcessor``
    processor_class = "AutoImageProcessor"

    @classmethod
    def load_preprocessor(cls, folder: Path | None, given: Any = None) -> Any:
        """The checkpoint's image processor (with its tokenizer for tasks that take text too), or
        ``given``: a processor object, or a folder to load one from."""
        import cove.processors

        if given is not None and not isinstance(given, (str, os.PathLike)):
            return given
        source = given if given is not None else folder
        if source is None:
            raise ValueError("the model was not loaded from a folder: pass its processor as tokenizer=")
        return getattr(cove.processors, cls.processor_class).from_pretrained(source)

    def image_processor(self) -> Any:
        return getattr(self.processor, "image_processor", self.processor)

    def pixels(self, image: Any) -> torch.Tensor:
        """One image -> (1, 3, H, W) pixel values in the model's dtype."""
        from cove.processors import load_image

        image = load_image(image, max_pixels=self.image_processor().max_pixels)
        return self.image_processor()([image])["pixel_values"].to(self.model.dtype)

    def _run_features(self, features: list[Feature], size: int, fwd: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        for start in range(0, len(features), size):
            group = features[start : start + size]
            batch = torch.cat([f["pixel_values"] for f in group]).to(self.device)
            with torch.inference_mode():
                out = self.forward({"pixel_values": batch}, **fwd)
            results += [{**f, "output": out[row]} for row, f in enumerate(group)]
        return results


class ImageClassificationPipeline(ImagePipeline):
    task = "image-classification"

    def sanitize(
        self, *, top_k: Any = _UNSET, function_to_apply: str | None = None, timeout: Any = None, **params: Any
    ) -> Params:
        self._reject(params)
        post: dict[str, Any] = {}
        if top_k is not _UNSET:
            check_top_k(top_k)
            post["top_k"] = top_k
        if function_to_apply is not None:
            post["function_to_apply"] = function_name(function_to_apply)
        return {}, {}, post

    def preprocess(self, inputs: Any) -> list[Feature]:
        return [{"pixel_values": self.pixels(inputs)}]

    def postprocess(
        self, inputs: Any, outputs: list[dict[str, Any]], *, top_k: int | None = 5, function_to_apply: str | None = None
    ) -> list[dict[str, Any]]:
        config = self.model.config
        logits = outputs[0]["output"].float().cpu().numpy()
        scores = apply_function(logits, function_to_apply or default_function(config))
        labels = config.id2label or {i: f"LABEL_{i}" for i in range(len(scores))}
        ranked = sorted(
            ({"label": labels[i], "score": s.item()} for i, s in enumerate(scores)),
            key=lambda x: x["score"],
            reverse=True,
        )
        return ranked if top_k is None else ranked[: min(top_k, len(ranked))]


class ZeroShotImageClassificationPipeline(ImagePipeline):
    """CLIP: one image against captions of the candidate labels."""

    task = "zero-shot-image-classification"
    processor_class = "AutoProcessor"

    @classmethod
    def load_preprocessor(cls, folder: Path | None, given: Any = None) -> Any:
        processor = super().load_preprocessor(folder, given)
        if not hasattr(processor, "tokenizer"):
            raise ValueError(f"{given or folder} has an image processor but no tokenizer; zero-shot needs both")
        return processor

    def sanitize(
        self,
        *,
        candidate_labels: Any = None,
        hypothesis_template: str = "This is a photo of {}.",
        tokenizer_kwargs: dict[str, Any] | None = None,
        timeout: Any = None,
        **params: Any,
    ) -> Params:
        self._reject(params)
        if candidate_labels is not None:
            if isinstance(candidate_labels, str):
                candidate_labels = [candidate_labels]
            if not candidate_labels or not all(isinstance(c, str) for c in candidate_labels):
                raise ValueError("candidate_labels must be a non-empty list of strings")
        if "{}" not in hypothesis_template:
            raise ValueError(f"hypothesis_template must hold '{{}}' for the label, not {hypothesis_template!r}")
        pre = {"candidate_labels": candidate_labels, "template": hypothesis_template, "options": tokenizer_kwargs or {}}
        return pre, {}, {}

    def preprocess(
        self, inputs: Any, *, candidate_labels: list[str] | None, template: str, options: dict[str, Any]
    ) -> list[Feature]:
        if candidate_labels is None:
            raise ValueError("zero-shot-image-classification needs candidate_labels=[...]")
        captions = [template.format(label) for label in candidate_labels]
        text = self.processor.tokenizer(captions, return_tensors="pt", **{"padding": True, **options})
        return [{"pixel_values": self.pixels(inputs), "text": text, "labels": candidate_labels}]

    def _run_features(self, features: list[Feature], size: int, fwd: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        for f in features:  # each image has its own captions: one forward per image
            text = {k: v.to(self.device) for k, v in f["text"].items() if k in ("input_ids", "attention_mask")}
            with torch.inference_mode():
                out = self.model(pixel_values=f["pixel_values"].to(self.device), **text, return_dict=True)
            results.append({**f, "output": out.logits_per_image[0]})
        return results

    def postprocess(self, inputs: Any, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        scores = outputs[0]["output"].float().softmax(dim=-1).tolist()
        pairs = sorted(zip(scores, outputs[0]["labels"], strict=True), key=lambda x: -x[0])
        return [{"score": score, "label": label} for score, label in pairs]


class ImageFeatureExtractionPipeline(ImagePipeline):
    task = "image-feature-extraction"

    def sanitize(
        self, *, pool: bool | None = None, return_tensors: bool | None = None, timeout: Any = None, **params: Any
    ) -> Params:
        self._reject(params)
        return {}, {"pool": bool(pool)}, {"return_tensors": bool(return_tensors)}

    def preprocess(self, inputs: Any) -> list[Feature]:
        return [{"pixel_values": self.pixels(inputs)}]

    def forward(self, batch: dict[str, torch.Tensor], *, pool: bool = False) -> torch.Tensor:
        out = self.model(**batch, return_dict=True)
        if pool:
            if getattr(out, "pooler_output", None) is None:
                raise ValueError(f"{type(self.model).__name__} has no pooled output; call without pool=True")
            return out.pooler_output
        return out.last_hidden_state

    def postprocess(self, inputs: Any, outputs: list[dict[str, Any]], *, return_tensors: bool = False) -> Any:
        value = outputs[0]["output"][None]  # (1, ...) as transformers returns one image's features
        return value if return_tensors else value.tolist()
