"""``DatasetDict``: named splits (``train``, ``validation``, ``test``, ...), each a ``Dataset``.

Every transform applies to each split and returns a new ``DatasetDict``; ``save_to_disk`` writes
``dataset_dict.json`` and one ``save_to_disk`` folder per split, as ``datasets`` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class DatasetDict(dict):
    """``{split: Dataset}`` with the transforms of ``Dataset`` applied split by split."""

    def _each(self, method: str, *args, **kwargs) -> DatasetDict:
        return DatasetDict({name: getattr(ds, method)(*args, **kwargs) for name, ds in self.items()})

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {k}: " + repr(v).replace("\n", "\n    ") for k, v in self.items())
        return "DatasetDict({\n" + inner + "\n})"

    @property
    def column_names(self) -> dict[str, list[str]]:
        return {k: v.column_names for k, v in self.items()}

    @property
    def num_rows(self) -> dict[str, int]:
        return {k: v.num_rows for k, v in self.items()}

    @property
    def num_columns(self) -> dict[str, int]:
        return {k: v.num_columns for k, v in self.items()}

    @property
    def shape(self) -> dict[str, tuple[int, int]]:
        return {k: v.shape for k, v in self.items()}

    @property
    def cache_files(self) -> dict[str, list[dict]]:
        return {k: v.cache_files for k, v in self.items()}

    def unique(self, column: str) -> dict[str, list]:
        return {k: v.unique(column) for k, v in self.items()}

    def cleanup_cache_files(self) -> dict[str, int]:
        return {k: v.cleanup_cache_files() for k, v in self.items()}

    # the transforms take the arguments of the Dataset methods of the same name
    def map(self, function=None, **options) -> DatasetDict:  # noqa: D102
        return self._each("map", function, **options)

    def filter(self, function=None, **options) -> DatasetDict:
        return self._each("filter", function, **options)

    def sort(self, column_names, **options) -> DatasetDict:
        return self._each("sort", column_names, **options)

    def shuffle(self, seed: int | None = None, seeds: dict[str, int] | None = None) -> DatasetDict:
        """Shuffle each split with ``seeds[split]`` if given, else ``seed``."""
        return DatasetDict({k: v.shuffle(seed=(seeds or {}).get(k, seed)) for k, v in self.items()})

    def rename_column(self, original_column_name: str, new_column_name: str) -> DatasetDict:
        return self._each("rename_column", original_column_name, new_column_name)

    def rename_columns(self, column_mapping: dict[str, str]) -> DatasetDict:
        return self._each("rename_columns", column_mapping)

    def remove_columns(self, column_names) -> DatasetDict:
        return self._each("remove_columns", column_names)

    def select_columns(self, column_names) -> DatasetDict:
        return self._each("select_columns", column_names)

    def cast(self, features) -> DatasetDict:
        return self._each("cast", features)

    def cast_column(self, column: str, feature) -> DatasetDict:
        return self._each("cast_column", column, feature)

    def flatten(self) -> DatasetDict:
        return self._each("flatten")

    def class_encode_column(self, column: str, include_nulls: bool = False) -> DatasetDict:
        return self._each("class_encode_column", column, include_nulls)

    def with_format(self, type: str | None = None, columns=None, output_all_columns: bool = False,
                    *, dtype=None, device=None) -> DatasetDict:
        return self._each("with_format", type, columns, output_all_columns, dtype=dtype, device=device)

    def set_format(self, type: str | None = None, columns=None, output_all_columns: bool = False,
                   *, dtype=None, device=None) -> None:
        for ds in self.values():
            ds.set_format(type, columns, output_all_columns, dtype=dtype, device=device)

    def reset_format(self) -> None:
        for ds in self.values():
            ds.reset_format()

    def save_to_disk(self, dataset_dict_path: str | os.PathLike, max_shard_size: int | str = "500MB") -> None:
        path = Path(dataset_dict_path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "dataset_dict.json").write_text(json.dumps({"splits": list(self)}))
        for name, ds in self.items():
            ds.save_to_disk(path / name, max_shard_size=max_shard_size)

    def push_to_hub(self, repo_id: str, *, config_name: str = "default", private: bool | None = None,
                    token: str | None = None, endpoint: str | None = None, commit_message: str | None = None,
                    revision: str | None = None, max_shard_size: int | str = "500MB",
                    num_shards: dict[str, int] | None = None):
        """Upload every split as Parquet shards with one card (see ``Dataset.push_to_hub``)."""
        from cove.datasets.hub import push_splits

        return push_splits(dict(self), repo_id, config_name=config_name, private=private, token=token,
                           endpoint=endpoint, commit_message=commit_message, revision=revision,
                           max_shard_size=max_shard_size, num_shards=num_shards)
