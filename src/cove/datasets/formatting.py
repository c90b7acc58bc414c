"""Output formats: the rows an Arrow table slice becomes when a dataset is indexed or iterated.

``python`` (dicts and lists; images and audio decoded), ``numpy`` (arrays), ``torch`` (tensors;
strings stay Python strings), ``pandas`` (DataFrames) and ``arrow`` (``pyarrow.Table``). A format may
apply to some ``columns`` only; the others are dropped unless ``output_all_columns``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from cove.datasets.features import Features, needs_decoding

FORMATS = (None, "python", "numpy", "np", "torch", "pt", "pandas", "pd", "arrow", "pa")
_CANONICAL = {"np": "numpy", "pt": "torch", "pd": "pandas", "pa": "arrow", "python": None}


@dataclass(frozen=True)
class Format:
    """How rows come out: ``type`` (None = python), the ``columns`` it applies to, torch ``kwargs``."""

    type: str | None = None
    columns: tuple[str, ...] | None = None
    output_all_columns: bool = False
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in FORMATS:
            raise ValueError(f"Unknown format {self.type!r}: expected one of python, numpy, torch, pandas, arrow")
        object.__setattr__(self, "type", _CANONICAL.get(self.type, self.type))

    def to_dict(self) -> dict:
        return {"type": self.type, "format_kwargs": dict(self.kwargs),
                "columns": list(self.columns) if self.columns is not None else None,
                "output_all_columns": self.output_all_columns}


def _python_columns(table: pa.Table, features: Features) -> dict[str, list]:
    out = table.to_pydict()
    for name in out:
        if name in features and needs_decoding(features[name]):
            out[name] = features.decode_column(name, out[name])
    return out


def _numpy_column(column: pa.ChunkedArray, values: list | None = None) -> np.ndarray:
    kind = column.type
    if (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)) \
            and column.null_count == 0:
        return column.to_numpy()
    if pa.types.is_fixed_size_list(kind) and column.null_count == 0 and pa.types.is_primitive(kind.value_type):
        flat = pa.concat_arrays([c.flatten() for c in column.chunks]) if column.num_chunks else pa.array([])
        return flat.to_numpy(zero_copy_only=False).reshape(len(column), kind.list_size)
    values = column.to_pylist() if values is None else values
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return np.array(values, dtype=object if column.null_count else str)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        arrays = [None if v is None else np.asarray(v) for v in values]
        shapes = {a.shape for a in arrays if a is not None}
        if len(shapes) == 1 and all(a is not None for a in arrays) and arrays[0].dtype != object:
            return np.stack(arrays)
        out = np.empty(len(arrays), dtype=object)
        out[:] = arrays
        return out
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _torch_value(value, kwargs: dict):
    import torch

    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            value = np.ascontiguousarray(value)
            tensor = torch.from_numpy(value if value.flags.writeable else value.copy())
            if value.dtype.kind == "f" and "dtype" not in kwargs:
                tensor = tensor.to(torch.float32)
            return tensor.to(**kwargs) if kwargs else tensor
        if value.dtype == object:
            items = [_torch_value(v, kwargs) for v in value]
            if items and all(isinstance(t, torch.Tensor) for t in items) and len({t.shape for t in items}) == 1:
                return torch.stack(items)
            return items
        return value.tolist()
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return _torch_value(np.asarray(value), kwargs)
    if isinstance(value, np.generic):
        return value.item()
    return value


def format_batch(table: pa.Table, features: Features, fmt: Format):
    """A slice of rows in ``fmt``: a dict of columns (python/numpy/torch), a DataFrame or a Table."""
    formatted, rest = _split(table, fmt)
    if fmt.type == "arrow":
        out = formatted
    elif fmt.type == "pandas":
        out = formatted.to_pandas(types_mapper=None)
    elif fmt.type in ("numpy", "torch"):
        needs = [n for n in formatted.column_names if n in features and needs_decoding(features[n])]
        decoded = _python_columns(formatted.select(needs), features) if needs else {}
        out = {}
        for name in formatted.column_names:
            array = _numpy_column(formatted.column(name), decoded.get(name))
            out[name] = _torch_value(array, fmt.kwargs) if fmt.type == "torch" else array
    else:
        out = _python_columns(formatted, features)
    if rest is not None and fmt.type not in ("arrow", "pandas"):
        out.update(_python_columns(rest, features))
    return out


def format_row(table: pa.Table, features: Features, fmt: Format):
    """One row (``table`` has one row) in ``fmt``."""
    if fmt.type in ("arrow", "pandas"):
        return format_batch(table, features, fmt)
    return {k: v[0] for k, v in format_batch(table, features, fmt).items()}


def format_column(table: pa.Table, features: Features, fmt: Format, name: str):
    """One column of a slice in ``fmt``: a list, an array, a tensor, a Series or an Arrow array."""
    single = table.select([name])
    if fmt.columns is not None and name not in fmt.columns and not fmt.output_all_columns:
        raise KeyError(f"Column {name!r} is not in the format's columns {list(fmt.columns)}")
    if fmt.columns is not None and name not in fmt.columns:
        fmt = Format()
    out = format_batch(single, features, Format(fmt.type, None, False, fmt.kwargs))
    if fmt.type == "arrow":
        return out.column(name)
    return out[name]


def _split(table: pa.Table, fmt: Format) -> tuple[pa.Table, pa.Table | None]:
    if fmt.columns is None:
        return table, None
    keep = [c for c in table.column_names if c in fmt.columns]
    others = [c for c in table.column_names if c not in fmt.columns]
    rest = table.select(others) if fmt.output_all_columns and others else None
    return table.select(keep), rest
