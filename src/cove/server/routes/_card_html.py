"""A repo card as the Hub shows it: the README body as sanitized Markdown, the front matter as a table.

- Repo HTML never becomes markup: raw HTML in the Markdown is shown as text, except HTML comments,
  which are hidden (huggingface_hub's ``ModelCard`` template is full of ``<!-- -->`` guidance).
- ``model-index`` becomes a results table (model, task, dataset, metric, value).
- Metadata keys are humanized (``library_name`` -> "Library"); ``configs``, ``dataset_info`` and any
  long JSON value are collapsed in a ``<details>``.
- Numbers are shown at their precision: ``0.9`` stays ``0.9``, float32 cells of the dataset viewer
  are shown as the shortest text that reads back as the same float32 (``2.3``, not ``2.299999952316284``).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^#|^/")
COLLAPSED_KEYS = frozenset({"configs", "dataset_info", "widget", "extra_gated_fields", "train-eval-index"})
LONG = 300
KEY_LABELS = {
    "license": "License", "license_name": "License name", "license_link": "License link",
    "library_name": "Library", "pipeline_tag": "Task", "language": "Languages", "datasets": "Datasets",
    "base_model": "Base model", "base_model_relation": "Base model relation", "tags": "Tags",
    "metrics": "Metrics", "task_categories": "Task categories", "task_ids": "Task IDs",
    "size_categories": "Size categories", "source_datasets": "Source datasets", "pretty_name": "Name",
    "annotations_creators": "Annotation creators", "language_creators": "Language creators",
    "multilinguality": "Multilinguality", "paperswithcode_id": "Papers with Code ID",
    "sdk": "SDK", "sdk_version": "SDK version", "app_file": "App file", "app_port": "App port",
    "colorFrom": "Color from", "colorTo": "Color to", "emoji": "Emoji", "title": "Title",
    "short_description": "Description", "inference": "Inference", "new_version": "New version",
    "configs": "Configs", "dataset_info": "Dataset info", "model-index": "Results", "thumbnail": "Thumbnail",
}


def humanize(key: str) -> str:
    """``library_name`` -> "Library"; an unknown ``some_key-name`` -> "Some key name"."""
    if key in KEY_LABELS:
        return KEY_LABELS[key]
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key).replace("_", " ").replace("-", " ").split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:] if text else key


def number(value) -> str:
    """A YAML or JSON number as written: ints as is, floats by their shortest repr (``0.9``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e16 else f"{value:.1f}"
    return str(value)


def short_float(value: float, fmt: str = "<f") -> str:
    """The shortest decimal that reads back as the same float32 (``fmt="<e"``: float16) as ``value``:
    2.299999952316284 -> "2.3"."""
    if value != value or value in (float("inf"), float("-inf")):
        return repr(value)
    try:
        target = struct.pack(fmt, value)
    except (OverflowError, struct.error):
        return repr(value)
    value = struct.unpack(fmt, target)[0]  # the float32 itself: 16777217.0 is stored as 16777216
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.pack(fmt, float(text)) == target:
            return repr(float(text)) if "e" not in text else text
    return repr(value)


def short_floats(value, fmt: str = "<f"):
    """:func:`short_float` over a cell: a float, or the floats of a list (other values unchanged)."""
    if isinstance(value, float):
        return short_float(value, fmt)
    if isinstance(value, list):
        return [short_floats(v, fmt) for v in value]
    return value


def _scalar(value) -> str:
    if isinstance(value, bool | int | float):
        return number(value)
    return str(value)


@dataclass(frozen=True)
class MetaRow:
    key: str
    label: str
    kind: str  # text | list | json
    text: str


def metadata_rows(data: dict) -> list[MetaRow]:
    """The front matter as rows; ``model-index`` is left to :func:`results_table`."""
    rows = []
    for key, value in data.items():
        key = str(key)
        if key == "model-index":
            continue
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            rows.append(MetaRow(key, humanize(key), "list", ", ".join(_scalar(v) for v in value)))
        elif isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
            rows.append(MetaRow(key, humanize(key), "json", text))
        else:
            text = _scalar(value) if value is not None else ""
            kind = "json" if len(text) > LONG else "text"
            rows.append(MetaRow(key, humanize(key), kind, text))
    return rows


def results_table(data: dict) -> list[dict]:
    """``model-index`` as rows of model, task, dataset, split, metric and value (malformed parts skipped)."""
    out = []
    index = data.get("model-index")
    for model in index if isinstance(index, list) else []:
        if not isinstance(model, dict):
            continue
        for result in model.get("results") or []:
            if not isinstance(result, dict):
                continue
            task = result.get("task") if isinstance(result.get("task"), dict) else {}
            dataset = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            for metric in result.get("metrics") or []:
                if not isinstance(metric, dict):
                    continue
                out.append({
                    "model": _scalar(model.get("name", "")),
                    "task": _scalar(task.get("name") or task.get("type") or ""),
                    "dataset": _scalar(dataset.get("name") or dataset.get("type") or ""),
                    "split": _scalar(dataset.get("split") or ""),
                    "metric": _scalar(metric.get("name") or metric.get("type") or ""),
                    "value": _scalar(metric.get("value", "")),
                    "verified": bool(metric.get("verified")),
                })
    return out


def _html_as_text(self, tokens, idx, options, env) -> str:
    """Raw HTML in a card: comments dropped, the rest shown as escaped text."""
    token = tokens[idx]
    text = _COMMENT.sub("", token.content)
    if not text.strip():
        return ""
    return f"<p>{escapeHtml(text)}</p>\n" if token.type == "html_block" else escapeHtml(text)


def render_markdown(text: str, link_base) -> str:
    """Markdown -> HTML. ``link_base(page, target)`` turns a relative link (``page="blob"``) or image
    (``page="resolve"``) into a URL inside the repo."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.add_render_rule("html_block", _html_as_text)
    md.add_render_rule("html_inline", _html_as_text)
    tokens = md.parse(text)
    for token in tokens:
        for child in token.children or []:
            attr = "src" if child.type == "image" else "href" if child.type == "link_open" else None
            target = child.attrGet(attr) if attr else None
            if target and not _SCHEME.match(target):
                child.attrSet(attr, link_base("resolve" if attr == "src" else "blob", target))
    return md.renderer.render(tokens, md.options, {})
