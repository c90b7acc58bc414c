"""The dataset viewer: configs, splits, features, row counts and sizes, and pages of rows of a dataset
repo's Parquet files at one commit (small csv, json, text and arrow files are converted per request).

Which files make which config and split is decided as ``load_dataset`` decides it
(:mod:`cove.datasets.layout`: the card's ``configs``, else file naming). Only Parquet footers and the
row groups that overlap the requested page are read: an LFS file is opened in place in the blob
store (pyarrow maps it), a small regular file is read from git.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from dataclasses import dataclass

from cove.errors import BadRequest, EntryNotFound
from cove.server.services.content import Content
from cove.server.storage.git import GitRepo

MAX_PAGE = 100
MAX_CELL = 2000  # characters of a string cell shown before it is truncated
MAX_CONVERT = 32 * 1024 * 1024  # csv/json/text splits up to this size are converted on each request


@dataclass(frozen=True)
class SplitFile:
    path: str
    size: int
    num_rows: int


class _Source:
    """One data file: a Parquet file read by row group, or a small file converted to a table."""

    def __init__(self, parquet, table, size: int) -> None:
        self.parquet, self.table, self.size = parquet, table, size
        self.schema = parquet.schema_arrow if parquet is not None else table.schema
        self.num_rows = parquet.metadata.num_rows if parquet is not None else table.num_rows

    def groups(self) -> list[int]:
        """Rows per row group (a converted file is one group)."""
        if self.parquet is None:
            return [self.num_rows]
        return [self.parquet.metadata.row_group(g).num_rows for g in range(self.parquet.metadata.num_row_groups)]

    def read(self, group: int, columns: list[str] | None = None):
        if self.parquet is None:
            return self.table.select(columns) if columns else self.table
        return self.parquet.read_row_group(group, columns=columns)


class DatasetViewer:
    """Reads one commit of a dataset repo. Build one per request: it holds no state between them."""

    def __init__(self, content: Content, git: GitRepo, sha: str) -> None:
        self.content, self.git, self.sha = content, git, sha

    # -- layout -----------------------------------------------------------------------------------

    def _card(self) -> dict:
        from cove.formats.cards import split_card

        entry = self.git.get_entry(self.sha, "README.md")
        if entry is None or entry.lfs_oid is not None:
            return {}
        try:
            return split_card(self.git.read_blob(entry.oid).decode("utf-8", "replace"))[0]
        except ValueError:
            return {}

    def configs(self) -> tuple[dict[str, dict[str, list[str]]], dict]:
        """``({config: {split: [data file paths]}}, card)``: the Parquet files of each split, else its
        other data files (csv, json, text, arrow) when they are small enough to convert per request."""
        from cove.datasets.layout import resolve_configs

        entries = {e.path: e for e in self.git.list_tree(self.sha, "", recursive=True) if e.type == "file"}
        card = self._card()
        out = {}
        for name, splits in resolve_configs(list(entries), card).items():
            kept = {}
            for split, paths in splits.items():
                parquet = [p for p in paths if p.lower().endswith(".parquet")]
                small = sum(entries[p].size for p in paths if p in entries) <= MAX_CONVERT
                if parquet or small:
                    kept[split] = parquet or paths
            if kept:
                out[name] = kept
        return out, card

    def _open(self, path: str) -> _Source:
        import pyarrow as pa
        import pyarrow.parquet as pq

        body = self.content.file(self.git, self.sha, path)
        if body.path is not None:
            source = str(body.path)
        else:  # bytes from git, or a Xet-stored file read through a seekable reader
            source = pa.BufferReader(body.data) if body.data is not None else self.content.open(body)
        try:
            if path.lower().endswith(".parquet"):
                return _Source(pq.ParquetFile(source, memory_map=body.path is not None), None, body.entry.size)
            from cove.datasets.loaders import format_of, read_batches

            with self.content.open(body) as handle:
                table = pa.Table.from_batches(list(read_batches(format_of(path), [handle])))
            return _Source(None, table, body.entry.size)
        except (pa.ArrowInvalid, OSError, ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"{path} is not a readable data file: {e}") from None

    def _pick(self, config: str | None, split: str | None) -> tuple[str, str, list[str], dict]:
        configs, card = self.configs()
        if not configs:
            raise EntryNotFound("This dataset has no data files the viewer can read")
        config = config or ("default" if "default" in configs else next(iter(configs)))
        if config not in configs:
            raise EntryNotFound(f"Unknown config {config!r}: the dataset has {sorted(configs)}")
        split = split or ("train" if "train" in configs[config] else next(iter(configs[config])))
        if split not in configs[config]:
            raise EntryNotFound(f"Unknown split {split!r} of config {config!r}: {sorted(configs[config])}")
        return config, split, configs[config][split], card

    # -- info and rows ----------------------------------------------------------------------------

    def info(self) -> dict:
        """``{"dataset_info": {config: {"features", "splits": {split: {num_examples, num_bytes, files}}}}}``."""
        from cove.datasets.features import Features
        from cove.datasets.layout import card_features

        configs, card = self.configs()
        out = {}
        for name, splits in configs.items():
            features, described = card_features(card, name), {}
            for split, paths in splits.items():
                files = []
                for path in paths:
                    source = self._open(path)
                    features = features or Features.from_arrow_schema(source.schema)
                    files.append(SplitFile(path, source.size, source.num_rows))
                described[split] = {"name": split, "num_examples": sum(f.num_rows for f in files),
                                    "num_bytes_files": sum(f.size for f in files),
                                    "files": [f.path for f in files]}
            out[name] = {"config_name": name, "features": features.to_dict() if features else {},
                         "splits": described,
                         "download_size": sum(s["num_bytes_files"] for s in described.values())}
        return {"dataset_info": out}

    def _read(self, paths: list[str], lo_row: int, hi_row: int, columns: list[str] | None = None):
        """``(table of rows lo_row .. hi_row, total rows, features)``: only the row groups they fall in."""
        import pyarrow as pa

        from cove.datasets.features import Features

        pieces, total, features = [], 0, None
        for path in paths:
            source = self._open(path)  # a Parquet file: the footer only
            features = features or Features.from_arrow_schema(source.schema)
            lo, total = total, total + source.num_rows
            if total <= lo_row or lo >= hi_row:
                continue
            for g, count in enumerate(source.groups()):
                hi = lo + count
                if hi > lo_row and lo < hi_row:
                    a, b = max(lo_row, lo) - lo, min(hi_row, hi) - lo
                    pieces.append(source.read(g, columns).slice(a, b - a))
                lo = hi
        table = pa.concat_tables(pieces, promote_options="permissive") if pieces else None
        return table, total, features

    def rows(self, config: str | None, split: str | None, offset: int, length: int,
             media_url: Callable[[str, str, int, str], str] | None = None) -> dict:
        """Rows ``offset .. offset+length`` of a split, reading only the row groups they fall in. An Image
        cell is ``{"src": url}`` and an Audio cell ``[{"src": url, "type": media type}]`` (as on Hugging
        Face), with ``url = media_url(config, split, row, column)`` (None without it)."""
        if offset < 0 or not 0 < length <= MAX_PAGE:
            raise BadRequest(f"offset must be >= 0 and length in 1..{MAX_PAGE}")
        config, split, paths, _ = self._pick(config, split)
        table, total, features = self._read(paths, offset, offset + length)
        rows = table.to_pylist() if table is not None else []
        media = _media_columns(features)
        out_rows = []
        for i, row in enumerate(rows):
            cells, truncated = {}, []
            for key, value in row.items():
                if key in media:
                    url = media_url(config, split, offset + i, key) if media_url and value else None
                    cells[key], cut = _media_cell(value, media[key], url), False
                else:
                    cells[key], cut = _cell(value)
                if cut:
                    truncated.append(key)
            out_rows.append({"row_idx": offset + i, "row": cells, "truncated_cells": truncated})
        return {"config": config, "split": split,
                "features": [{"feature_idx": i, "name": k, "type": v}
                             for i, (k, v) in enumerate((features.to_dict() if features else {}).items())],
                "rows": out_rows, "num_rows_total": total, "num_rows_per_page": length,
                "partial": False}

    def cell(self, config: str | None, split: str | None, row: int, column: str) -> tuple[bytes, str | None]:
        """The stored bytes of one Image or Audio cell and their media type, sniffed from the bytes
        (None: not a known image or audio format, to be served as an attachment only)."""
        if row < 0:
            raise BadRequest("row must be >= 0")
        config, split, paths, _ = self._pick(config, split)
        table, total, features = self._read(paths[:1], 0, 0)  # the schema from the first footer
        if column not in _media_columns(features):
            raise BadRequest(f"{column!r} is not an Image or Audio column of {config}/{split}")
        table, total, _ = self._read(paths, row, row + 1, [column])
        if table is None or table.num_rows == 0:
            raise EntryNotFound(f"Row {row} is out of range: {config}/{split} has {total} rows")
        value = table.column(column)[0].as_py()
        data = value.get("bytes") if isinstance(value, dict) else None
        if not data:
            raise EntryNotFound(f"Row {row} of {column!r} holds no stored bytes")
        return data, sniff_media(data)


def _media_columns(features) -> dict[str, str]:
    """``{column: "image" | "audio"}`` for the top-level Image and Audio features."""
    from cove.datasets.features import Audio, Image

    return {k: "image" if isinstance(f, Image) else "audio"
            for k, f in (features or {}).items() if isinstance(f, Image | Audio)}


def sniff_media(data: bytes) -> str | None:
    """The media type of image or audio bytes by their magic numbers (PNG, JPEG, GIF, WebP; WAV, FLAC,
    Ogg, MP3); None for anything else (SVG and HTML included: never served inline)."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    # MP3: an ID3 tag, or an MPEG audio frame header (11 sync bits, then a layer that is not 00: not AAC)
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "audio/mpeg"
    return None


def _media_cell(value, kind: str, url: str | None):
    if value is None:
        return None
    if kind == "image":
        return {"src": url}
    data = value.get("bytes") if isinstance(value, dict) else None
    return [{"src": url, "type": (sniff_media(data) if data else None) or "application/octet-stream"}]


def _cell(value):
    """A cell as JSON: bytes as a note, long text cut; -> (cell, truncated)."""
    if isinstance(value, str):
        return (value[:MAX_CELL], True) if len(value) > MAX_CELL else (value, False)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>", True
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat(), False
    if isinstance(value, decimal.Decimal | datetime.timedelta):
        return str(value), False
    if isinstance(value, dict):
        cut = False
        out = {}
        for k, v in value.items():
            out[k], c = _cell(v)
            cut = cut or c
        return out, cut
    if isinstance(value, list):
        items = [_cell(v) for v in value[:100]]
        return [c for c, _ in items], len(value) > 100 or any(t for _, t in items)
    return value, False
