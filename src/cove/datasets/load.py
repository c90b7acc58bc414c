"""``load_dataset``: a local file or folder, a format name with ``data_files``, or a dataset repo on a Hub.

The configs and splits come from :mod:`cove.datasets.layout` (the card's ``configs``, else file
naming). Files are converted once into memory-mapped Arrow files in the cache; with ``streaming``
nothing is converted and an ``IterableDataset`` reads the files (over HTTP ranges for a Hub) as it
is iterated.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from cove.datasets import layout
from cove.datasets.dataset import Dataset
from cove.datasets.dataset_dict import DatasetDict
from cove.datasets.features import Features
from cove.datasets.io import from_files
from cove.datasets.iterable import IterableDataset
from cove.datasets.loaders import FORMATS, format_of, read_batches
from cove.formats.cards import split_card

_SPLIT = re.compile(r"^(\w+)(?:\[(-?\d*%?):(-?\d*%?)\])?$")


def load_dataset(path: str, name: str | None = None, split: str | None = None, data_files=None,
                 data_dir: str | None = None, *, streaming: bool = False, features: Features | None = None,
                 revision: str | None = None, token: str | None = None, endpoint: str | None = None,
                 cache_dir: str | os.PathLike | None = None, keep_in_memory: bool = False):
    """Load a dataset; a ``DatasetDict`` of its splits, or one split with ``split``.

    Args:
        path: a folder or file, a format (``"csv"``, ``"json"``, ``"parquet"``, ``"text"``, ``"arrow"``)
            with ``data_files``, or a Hub dataset repo id ``namespace/name``.
        name: the config (from the card's ``configs``); the default one when omitted.
        split: ``"train"``, a slice ``"train[:100]"`` / ``"train[10%:]"``, or ``"train+test"``.
        data_files: a pattern, a list, or ``{split: patterns}`` (relative to the folder or repo).
        data_dir: a subfolder holding the data files.
        streaming: return ``IterableDataset`` s that read lazily.
        features: cast the data to these features.
        revision, token, endpoint: for a Hub repo (defaults as :mod:`cove.hub`).
        cache_dir: where converted Arrow files go (default ``COVE_DATASETS_CACHE``).
    """
    options = {"features": features, "cache_dir": cache_dir, "keep_in_memory": keep_in_memory}
    if path in FORMATS:
        if data_files is None:
            raise ValueError(f"load_dataset({path!r}) needs data_files=")
        files = {s: _glob_local(p, Path.cwd()) for s, p in layout.normalize_data_files(data_files).items()}
        return _finish({s: (path, fs) for s, fs in files.items()}, split, streaming, options)
    local = Path(path)
    if local.is_file():
        kind = format_of(local.name)
        if kind is None:
            raise ValueError(f"Unknown data file format: {path}")
        return _finish({"train": (kind, [str(local)])}, split, streaming, options)
    if local.is_dir():
        return _load_folder(local, name, split, data_files, data_dir, streaming, options)
    return _load_hub(path, name, split, data_files, data_dir, streaming, options,
                     revision=revision, token=token, endpoint=endpoint)


def _glob_local(patterns: list[str], base: Path) -> list[str]:
    out = []
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        found = sorted(glob.glob(full, recursive=True))
        if not found:
            raise FileNotFoundError(f"No file matches {pattern!r}")
        out += [f for f in found if f not in out]
    return out


def _pick(configs: dict, card: dict, name: str | None) -> tuple[str, dict[str, list[str]]]:
    if not configs:
        raise FileNotFoundError("No data files found (csv, tsv, json, jsonl, parquet, txt, arrow)")
    name = name or layout.default_config(card, list(configs))
    if name is None:
        raise ValueError(f"This dataset has several configs; pick one with name=: {sorted(configs)}")
    if name not in configs:
        raise ValueError(f"Unknown config {name!r}: the dataset has {sorted(configs)}")
    return name, configs[name]


def _load_folder(root: Path, name, split, data_files, data_dir, streaming, options):
    if (root / "state.json").exists() or (root / "dataset_dict.json").exists():
        raise ValueError(f"{root} was written by save_to_disk: open it with load_from_disk")
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    card = _local_card(root)
    if data_files is not None:
        base = data_dir or ""
        splits = {s: layout.match(p, paths, base) for s, p in layout.normalize_data_files(data_files).items()}
    else:
        if data_dir:
            paths = [p for p in paths if p.startswith(data_dir.strip("/") + "/")]
            card = {}
        name, splits = _pick(layout.resolve_configs(paths, card), card, name)
        if options["features"] is None:
            options = {**options, "features": layout.card_features(card, name)}
    return _finish({s: (format_of(fs[0]), [str(root / f) for f in fs]) for s, fs in splits.items() if fs},
                   split, streaming, options)


def _local_card(root: Path) -> dict:
    readme = root / "README.md"
    if not readme.exists():
        return {}
    try:
        return split_card(readme.read_text(encoding="utf-8", errors="replace"))[0]
    except ValueError:
        return {}


def _load_hub(repo_id, name, split, data_files, data_dir, streaming, options, *, revision, token, endpoint):
    from cove.datasets.hub import HubFiles

    repo = HubFiles(repo_id, revision=revision, token=token, endpoint=endpoint)
    card = repo.card()
    if data_files is not None:
        splits = {s: layout.match(p, repo.paths, data_dir or "")
                  for s, p in layout.normalize_data_files(data_files).items()}
    else:
        paths = [p for p in repo.paths if not data_dir or p.startswith(data_dir.strip("/") + "/")]
        name, splits = _pick(layout.resolve_configs(paths, {} if data_dir else card), card, name)
        if options["features"] is None:
            options = {**options, "features": layout.card_features(card, name)}
    splits = {s: fs for s, fs in splits.items() if fs}
    wanted = _wanted_splits(split, splits)
    if streaming:
        sources = {s: (format_of(fs[0]), [_Remote(repo, f) for f in fs]) for s, fs in splits.items() if s in wanted}
    else:
        sources = {s: (format_of(fs[0]), [repo.download(f) for f in fs]) for s, fs in splits.items() if s in wanted}
    return _finish(sources, split, streaming, options)


class _Remote:
    """A Hub file opened lazily when its shard is iterated; ``files`` keeps what was opened."""

    def __init__(self, repo, path: str) -> None:
        self.repo, self.path, self.files = repo, path, []

    def open(self):
        f = self.repo.open(self.path)
        self.files.append(f)
        return f

    @property
    def fetched(self) -> int:
        return sum(f.fetched for f in self.files)


def _wanted_splits(split: str | None, available: dict) -> set[str]:
    if split is None:
        return set(available)
    return {_SPLIT.match(part.strip()).group(1) if _SPLIT.match(part.strip()) else part for part in split.split("+")}


def _finish(sources: dict[str, tuple[str, list]], split: str | None, streaming: bool, options: dict):
    """Build the split datasets (only those ``split`` names) and apply ``split``'s slicing."""
    wanted = _wanted_splits(split, sources)
    missing = wanted - set(sources)
    if missing:
        raise ValueError(f"Unknown split {sorted(missing)}: the dataset has {sorted(sources)}")
    built = {s: _build(s, kind, files, streaming, options) for s, (kind, files) in sources.items() if s in wanted}
    if split is None:
        return DatasetDict(built)  # of IterableDataset s when streaming
    return _slice_split(split, built, streaming)


def _build(name: str, kind: str, files: list, streaming: bool, options: dict):
    features = options["features"]
    if streaming:
        def shard(source):
            def batches():
                handle = source.open() if isinstance(source, _Remote) else source
                return read_batches(kind, [handle], features=features)
            return batches

        ds = IterableDataset([shard(f) for f in files], features=features, split=name)
        ds._sources = files
        return ds
    return from_files(Dataset, kind, files, features=features, split=name, cache_dir=options["cache_dir"],
                      keep_in_memory=options["keep_in_memory"])


def _bound(text: str, n: int, default: int) -> int:
    if text == "":
        return default
    value = round(float(text[:-1]) * n / 100) if text.endswith("%") else int(text)
    return max(0, min(n, value + n if value < 0 else value))


def _slice_split(split: str, built: dict, streaming: bool):
    from cove.datasets.combine import concatenate_datasets

    parts = []
    for part in split.split("+"):
        m = _SPLIT.match(part.strip())
        if m is None:
            raise ValueError(f"Invalid split {part!r}: use 'train', 'train[:100]' or 'train[10%:20%]'")
        ds = built[m.group(1)]
        if m.group(2) is not None or m.group(3) is not None:
            if streaming:
                raise ValueError("Slicing a split is not supported with streaming=True: use take() / skip()")
            start, stop = _bound(m.group(2) or "", len(ds), 0), _bound(m.group(3) or "", len(ds), len(ds))
            ds = ds.select(range(start, max(start, stop)))
        parts.append(ds)
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts, split=split)
