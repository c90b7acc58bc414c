"""Which files make which config and split of a dataset repo or folder. Pure functions over a list
of paths and the card's YAML, shared by ``load_dataset`` and the Hub's dataset viewer.

The rules are those of ``datasets``: the card's ``configs`` (``data_files`` as a pattern, a list, or
``[{split, path}]``) win; otherwise the data files of the most common format are grouped into splits
by name (``train``/``training``, ``validation``/``valid``/``val``/``dev``, ``test``/``testing``/
``eval``/``evaluation`` as a folder or a word of the file name, and ``data/{split}-00000-of-00001.*``
as ``push_to_hub`` writes), and everything is ``train`` when no name matches.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter

from cove.datasets.features import Features
from cove.datasets.loaders import format_of

SPLIT_KEYWORDS = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval", "evaluation"),
}
_SHARD = re.compile(r"^(?:.*/)?([\w]+?)-\d{5}-of-\d{5}\.[^/]+$")
_SEP = "-._ 0-9/"


def _keyword_re(word: str) -> re.Pattern:
    return re.compile(rf"(?:^|[{_SEP}]){word}(?:$|[{_SEP}])", re.IGNORECASE)


_KEYWORDS = {split: [_keyword_re(w) for w in words] for split, words in SPLIT_KEYWORDS.items()}


def data_files_of(paths: list[str]) -> list[str]:
    """The paths with a data file extension, of the most common format among them."""
    data = [p for p in paths if format_of(p) and not p.split("/")[-1].startswith(".")]
    if not data:
        return []
    kind, _ = Counter(format_of(p) for p in data).most_common(1)[0]
    return sorted(p for p in data if format_of(p) == kind)


def split_of(path: str) -> str | None:
    """The split a file's name or folder names (``train/x.csv``, ``my_test.jsonl``, ``data/dev-00000-of-00001.parquet``)."""
    shard = _SHARD.match(path)
    if shard and path.count("/") <= 1:
        return shard.group(1)
    stem = path.rsplit(".", 1)[0]
    for split, patterns in _KEYWORDS.items():
        if any(p.search(stem) for p in patterns):
            return split
    return None


def infer_splits(paths: list[str]) -> dict[str, list[str]]:
    """``{split: files}`` from file naming; all files are ``train`` when none names a split."""
    files = data_files_of(paths)
    splits: dict[str, list[str]] = {}
    for path in files:
        split = split_of(path)
        if split is not None:
            splits.setdefault(split, []).append(path)
    if not splits and files:
        return {"train": files}
    order = list(SPLIT_KEYWORDS)
    return dict(sorted(splits.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 3, kv[0])))


def match(patterns: str | list[str], paths: list[str], base: str = "") -> list[str]:
    """The ``paths`` matching any pattern (``*`` within a folder, ``**`` across folders), in order."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    out = []
    for pattern in patterns:
        pattern = f"{base.strip('/')}/{pattern}".lstrip("/") if base else pattern.lstrip("/")
        regex = re.compile(_glob_to_regex(pattern))
        found = sorted(p for p in paths if regex.fullmatch(p) and p not in out)
        out.extend(found)
    return out


def _glob_to_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i)
            out.append(fnmatch.translate(pattern[i:end + 1])[4:-3] if end > 0 else re.escape("["))
            i = end + 1 if end > 0 else i + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def normalize_data_files(data_files) -> dict[str, list[str]]:
    """``data_files`` as users and cards give it -> ``{split: [patterns]}``."""
    if isinstance(data_files, str):
        return {"train": [data_files]}
    if isinstance(data_files, dict):
        return {k: [v] if isinstance(v, str) else list(v) for k, v in data_files.items()}
    if data_files and isinstance(data_files[0], dict):  # [{split, path}]
        out: dict[str, list[str]] = {}
        for entry in data_files:
            paths = entry["path"]
            out.setdefault(entry.get("split", "train"), []).extend([paths] if isinstance(paths, str) else paths)
        return out
    return {"train": list(data_files)}


def resolve_configs(paths: list[str], card: dict | None) -> dict[str, dict[str, list[str]]]:
    """``{config: {split: [files]}}`` for a repo or folder holding ``paths`` with card metadata ``card``."""
    configs = (card or {}).get("configs")
    if configs:
        out = {}
        for entry in configs:
            name = entry.get("config_name", "default")
            base = entry.get("data_dir") or ""
            files = entry.get("data_files")
            if files is None:
                scoped = [p[len(base):].lstrip("/") for p in paths if p.startswith(base.rstrip("/") + "/")] \
                    if base else paths
                out[name] = {s: [f"{base}/{f}".lstrip("/") for f in fs] for s, fs in infer_splits(scoped).items()}
                continue
            out[name] = {split: match(patterns, paths, base)
                         for split, patterns in normalize_data_files(files).items()}
        return out
    splits = infer_splits(paths)
    return {"default": splits} if splits else {}


def default_config(card: dict | None, names: list[str]) -> str | None:
    """The config ``load_dataset`` picks without ``name``: the one marked ``default``, ``default``, or the only one."""
    for entry in (card or {}).get("configs") or []:
        if entry.get("default"):
            return entry.get("config_name", "default")
    if "default" in names:
        return "default"
    return names[0] if len(names) == 1 else None


def card_features(card: dict | None, config: str) -> Features | None:
    """The features a card's ``dataset_info`` declares for ``config`` (None when it declares none)."""
    info = (card or {}).get("dataset_info")
    entries = info if isinstance(info, list) else [info] if isinstance(info, dict) else []
    for entry in entries:
        if entry.get("config_name", "default") == config and entry.get("features"):
            try:
                return Features.from_yaml_list(entry["features"])
            except (KeyError, TypeError, ValueError):
                return None
    return None
