"""Feature types: what a column holds, beyond its Arrow type.

``Value`` (any Arrow primitive), ``ClassLabel`` (int64 ids with names), ``List`` / ``LargeList``
(``Sequence`` builds them as ``datasets`` does), nested dicts (Arrow structs), ``Image`` and ``Audio``
(``struct<bytes, path>``, decoded on access). ``Features`` is the ordered dict of a dataset's columns.

The JSON form (``to_dict`` / ``from_dict``) and the YAML form (``to_yaml_list`` / ``from_yaml_list``)
are the ones ``datasets`` writes in ``dataset_info.json``, the ``huggingface`` key of Arrow and Parquet
schema metadata, and the dataset card, so each library reads the other's files with the same features.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_FLOATS = {pa.float16(): "float16", pa.float32(): "float32", pa.float64(): "float64"}
_ALIASES = {"float": "float32", "double": "float64", "halffloat": "float16", "int": "int32", "long": "int64",
            "boolean": "bool", "str": "string", "utf8": "string", "large_utf8": "large_string"}


def dtype_of(arrow_type: pa.DataType) -> str:
    """The ``datasets`` dtype string of an Arrow type (``pa.float64()`` -> ``"float64"``)."""
    if arrow_type in _FLOATS:
        return _FLOATS[arrow_type]
    if pa.types.is_date32(arrow_type) or pa.types.is_date64(arrow_type):
        return "date32" if pa.types.is_date32(arrow_type) else "date64"
    if pa.types.is_timestamp(arrow_type):
        return f"timestamp[{arrow_type.unit}]" if arrow_type.tz is None else \
            f"timestamp[{arrow_type.unit}, tz={arrow_type.tz}]"
    return str(arrow_type)


def arrow_type_of(dtype: str) -> pa.DataType:
    """The Arrow type of a ``datasets`` dtype string (``"timestamp[us, tz=UTC]"`` included)."""
    dtype = _ALIASES.get(dtype, dtype)
    if dtype.startswith("timestamp["):
        unit, _, tz = dtype[len("timestamp["):-1].partition(", tz=")
        return pa.timestamp(unit, tz or None)
    if dtype.startswith(("decimal128(", "decimal256(")):
        precision, scale = (int(x) for x in dtype[11:-1].split(","))
        return (pa.decimal128 if dtype.startswith("decimal128") else pa.decimal256)(precision, scale)
    if dtype.startswith(("time32[", "time64[", "duration[")):
        kind, unit = dtype[:-1].split("[")
        return getattr(pa, kind)(unit)
    try:
        return pa.type_for_alias(dtype)
    except ValueError:
        raise ValueError(f"Unknown dtype {dtype!r}: use an Arrow type name such as 'int64' or 'string'") from None


@dataclass(frozen=True)
class Value:
    """A scalar column of one Arrow primitive type, named as ``datasets`` names it (``"int64"``)."""

    dtype: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", dtype_of(arrow_type_of(self.dtype)))

    @property
    def pa_type(self) -> pa.DataType:
        return arrow_type_of(self.dtype)


@dataclass
class ClassLabel:
    """Integer class ids stored as int64, with their ``names`` (-1 means no label)."""

    num_classes: int | None = None
    names: list[str] | None = None
    names_file: str | None = None

    def __post_init__(self) -> None:
        if self.names_file is not None:
            self.names = [n.strip() for n in Path(self.names_file).read_text().splitlines() if n.strip()]
        if self.names is None:
            self.names = [str(i) for i in range(self.num_classes or 0)]
        self.names = [str(n) for n in self.names]
        if self.num_classes is not None and self.num_classes != len(self.names):
            raise ValueError(f"ClassLabel: num_classes={self.num_classes} but {len(self.names)} names")
        self.num_classes = len(self.names)
        self._ids = {n: i for i, n in enumerate(self.names)}

    pa_type = pa.int64()

    def str2int(self, name: str | list[str]) -> int | list[int]:
        if isinstance(name, list):
            return [self.str2int(n) for n in name]
        if name not in self._ids and str(name).isdigit() and int(name) < self.num_classes:
            return int(name)
        try:
            return self._ids[name]
        except KeyError:
            raise ValueError(f"Invalid label {name!r}: expected one of {self.names}") from None

    def int2str(self, value: int | list[int]) -> str | list[str]:
        if isinstance(value, list):
            return [self.int2str(v) for v in value]
        if not 0 <= int(value) < self.num_classes:
            raise ValueError(f"Invalid class id {value}: expected 0..{self.num_classes - 1}")
        return self.names[int(value)]

    def __eq__(self, other) -> bool:
        return isinstance(other, ClassLabel) and self.names == other.names

    def __repr__(self) -> str:
        return f"ClassLabel(names={self.names})"


@dataclass
class List:
    """A list of ``feature`` values; ``length >= 0`` makes it a fixed-size list."""

    feature: Any
    length: int = -1

    @property
    def pa_type(self) -> pa.DataType:
        inner = to_arrow_type(self.feature)
        return pa.list_(inner, self.length) if self.length >= 0 else pa.list_(inner)


@dataclass
class LargeList:
    """A list with 64-bit offsets."""

    feature: Any

    @property
    def pa_type(self) -> pa.DataType:
        return pa.large_list(to_arrow_type(self.feature))


def Sequence(feature: Any, length: int = -1):  # noqa: N802 - the datasets spelling
    """``datasets``' Sequence: a ``List``, or for a dict of features a dict of ``List`` s."""
    if isinstance(feature, dict):
        return {k: Sequence(v, length) for k, v in feature.items()}
    return List(feature, length)


_MEDIA_TYPE = pa.struct({"bytes": pa.binary(), "path": pa.string()})


def _media_storage(value: Any) -> dict | None:
    """A path, bytes or ``{"bytes", "path"}`` -> the stored ``{"bytes", "path"}`` struct."""
    if value is None or isinstance(value, dict):
        return None if value is None else {"bytes": value.get("bytes"), "path": value.get("path")}
    if isinstance(value, bytes | bytearray):
        return {"bytes": bytes(value), "path": None}
    if isinstance(value, str | Path):
        return {"bytes": None, "path": str(value)}
    raise TypeError(f"Cannot store {type(value).__name__} as a media file: give a path, bytes or a dict")


def _media_bytes(value: dict) -> bytes:
    if value.get("bytes") is not None:
        return value["bytes"]
    return Path(value["path"]).read_bytes()


@dataclass
class Image:
    """An image stored as ``{"bytes", "path"}``; decoded to a ``PIL.Image.Image`` on access."""

    decode: bool = True
    mode: str | None = None
    pa_type = _MEDIA_TYPE

    def encode_example(self, value: Any) -> dict | None:
        if type(value).__module__.startswith("PIL."):
            buf = io.BytesIO()
            value.save(buf, format=value.format or "PNG")
            return {"bytes": buf.getvalue(), "path": None}
        if isinstance(value, np.ndarray):
            from PIL import Image as PILImage

            buf = io.BytesIO()
            PILImage.fromarray(value).save(buf, format="PNG")
            return {"bytes": buf.getvalue(), "path": None}
        return _media_storage(value)

    def decode_example(self, value: dict | None):
        if value is None or not self.decode:
            return value
        from PIL import Image as PILImage

        image = PILImage.open(io.BytesIO(_media_bytes(value)))
        image.load()
        return image.convert(self.mode) if self.mode and image.mode != self.mode else image


@dataclass
class Audio:
    """Audio stored as ``{"bytes", "path"}``; decoded on access to ``{"path", "array", "sampling_rate"}``.

    Decoding reads WAV with the standard library (PCM 8/16/32-bit); with ``sampling_rate`` set the
    signal is resampled linearly to that rate. Other codecs (FLAC, OGG, MP3) go through ``soundfile``
    (in the ``datasets`` extra).
    """

    sampling_rate: int | None = None
    mono: bool = True
    decode: bool = True
    pa_type = _MEDIA_TYPE

    def encode_example(self, value: Any) -> dict | None:
        if isinstance(value, dict) and "array" in value:
            return {"bytes": wav_bytes(np.asarray(value["array"]), value["sampling_rate"]), "path": value.get("path")}
        return _media_storage(value)

    def decode_example(self, value: dict | None):
        if value is None or not self.decode:
            return value
        array, rate = read_audio(_media_bytes(value))
        if self.mono and array.ndim == 2:
            array = array.mean(axis=1)
        if self.sampling_rate and rate != self.sampling_rate:
            n = int(round(len(array) * self.sampling_rate / rate))
            array = np.interp(np.linspace(0, len(array) - 1, n), np.arange(len(array)), array).astype(np.float32)
            rate = self.sampling_rate
        return {"path": value.get("path"), "array": array, "sampling_rate": rate}


def wav_bytes(array: np.ndarray, sampling_rate: int) -> bytes:
    """A mono or (T, C) float signal in [-1, 1] -> 16-bit PCM WAV bytes."""
    import wave

    pcm = (np.clip(array, -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sampling_rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def read_audio(data: bytes) -> tuple[np.ndarray, int]:
    """WAV bytes -> (float32 samples, (T,) or (T, C), sampling rate)."""
    import wave

    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except wave.Error:
        import soundfile  # other codecs: an optional dependency

        array, rate = soundfile.read(io.BytesIO(data), dtype="float32")
        return array, rate
    dtype, scale = {1: ("u1", 128.0), 2: ("<i2", 32768.0), 4: ("<i4", 2147483648.0)}[width]
    samples = np.frombuffer(raw, dtype=dtype).astype(np.float32)
    samples = (samples - 128.0) / 128.0 if width == 1 else samples / scale
    return (samples if channels == 1 else samples.reshape(-1, channels)), rate


FeatureType = Value | ClassLabel | List | LargeList | Image | Audio | dict


def to_arrow_type(feature: FeatureType) -> pa.DataType:
    if isinstance(feature, dict):
        return pa.struct({k: to_arrow_type(v) for k, v in feature.items()})
    if isinstance(feature, list):  # the legacy ``[feature]`` spelling
        return pa.list_(to_arrow_type(feature[0]))
    return feature.pa_type


def from_arrow_type(arrow_type: pa.DataType) -> FeatureType:
    """The feature an Arrow type implies (structs become dicts, lists ``List``)."""
    if pa.types.is_struct(arrow_type):
        return {arrow_type.field(i).name: from_arrow_type(arrow_type.field(i).type)
                for i in range(arrow_type.num_fields)}
    if pa.types.is_fixed_size_list(arrow_type):
        return List(from_arrow_type(arrow_type.value_type), arrow_type.list_size)
    if pa.types.is_large_list(arrow_type):
        return LargeList(from_arrow_type(arrow_type.value_type))
    if pa.types.is_list(arrow_type):
        return List(from_arrow_type(arrow_type.value_type))
    if pa.types.is_dictionary(arrow_type):
        return from_arrow_type(arrow_type.value_type)
    return Value(dtype_of(arrow_type))


# -- serialization: the JSON of dataset_info.json and the YAML of dataset cards ---------------------


def feature_to_dict(feature: FeatureType) -> dict:
    if isinstance(feature, dict):
        return {k: feature_to_dict(v) for k, v in feature.items()}
    if isinstance(feature, Value):
        return {"dtype": feature.dtype, "_type": "Value"}
    if isinstance(feature, ClassLabel):
        return {"names": list(feature.names), "_type": "ClassLabel"}
    if isinstance(feature, List):
        out = {"feature": feature_to_dict(feature.feature)}
        if feature.length >= 0:
            out["length"] = feature.length
        return {**out, "_type": "List"}
    if isinstance(feature, LargeList):
        return {"feature": feature_to_dict(feature.feature), "_type": "LargeList"}
    if isinstance(feature, Image):
        return {**({"mode": feature.mode} if feature.mode else {}),
                **({} if feature.decode else {"decode": False}), "_type": "Image"}
    if isinstance(feature, Audio):
        return {**({"sampling_rate": feature.sampling_rate} if feature.sampling_rate else {}),
                **({} if feature.decode else {"decode": False}), "_type": "Audio"}
    raise TypeError(f"Not a feature: {feature!r}")


def feature_from_dict(data: Any) -> FeatureType:
    if isinstance(data, list):  # legacy ``[feature]``
        return List(feature_from_dict(data[0]))
    kind = data.get("_type") if isinstance(data, dict) else None
    if kind is None:
        return {k: feature_from_dict(v) for k, v in data.items()}
    if kind == "Value":
        return Value(data["dtype"])
    if kind == "ClassLabel":
        return ClassLabel(names=data.get("names"), num_classes=None if data.get("names") else data.get("num_classes"))
    if kind in ("List", "Sequence"):
        return Sequence(feature_from_dict(data["feature"]), data.get("length", -1))
    if kind == "LargeList":
        return LargeList(feature_from_dict(data["feature"]))
    if kind == "Image":
        return Image(decode=data.get("decode", True), mode=data.get("mode"))
    if kind == "Audio":
        return Audio(sampling_rate=data.get("sampling_rate"), decode=data.get("decode", True))
    raise ValueError(f"Unsupported feature type {kind!r}")


def _yaml_of(feature: FeatureType) -> dict:
    """The right-hand side of a card's ``- name: x`` entry (``dtype: string``, ``list: int32``, ...)."""
    if isinstance(feature, dict):
        return {"struct": [{"name": k, **_yaml_of(v)} for k, v in feature.items()]}
    if isinstance(feature, List | LargeList):
        key = "large_list" if isinstance(feature, LargeList) else "list"
        inner = _yaml_of(feature.feature)
        out = {key: inner["dtype"] if list(inner) == ["dtype"] and isinstance(inner["dtype"], str) else inner}
        if isinstance(feature, List) and feature.length >= 0:
            out["length"] = feature.length
        return out
    if isinstance(feature, Value):
        return {"dtype": feature.dtype}
    if isinstance(feature, ClassLabel):
        return {"dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(feature.names)}}}}
    if isinstance(feature, Image | Audio):
        rest = feature_to_dict(feature)
        rest.pop("_type")
        return {"dtype": type(feature).__name__.lower(), **rest}
    raise TypeError(f"Not a feature: {feature!r}")


def _from_yaml(entry: dict) -> FeatureType:
    if "struct" in entry:
        return {e["name"]: _from_yaml(e) for e in entry["struct"]}
    for key in ("list", "large_list", "sequence"):
        if key in entry:
            inner = entry[key]
            inner = _from_yaml(inner) if isinstance(inner, dict) else Value(inner)
            if key == "large_list":
                return LargeList(inner)
            return Sequence(inner, entry.get("length", -1))
    dtype = entry["dtype"]
    if isinstance(dtype, dict) and "class_label" in dtype:
        names = dtype["class_label"]["names"]
        return ClassLabel(names=[names[k] for k in sorted(names, key=int)] if isinstance(names, dict) else names)
    if dtype in ("image", "audio"):
        rest = {k: v for k, v in entry.items() if k not in ("name", "dtype")}
        return Image(**rest) if dtype == "image" else Audio(**rest)
    return Value(dtype)


# -- Features ---------------------------------------------------------------------------------------


def needs_encoding(feature: FeatureType) -> bool:
    if isinstance(feature, dict):
        return any(needs_encoding(v) for v in feature.values())
    if isinstance(feature, List | LargeList):
        return needs_encoding(feature.feature)
    return isinstance(feature, ClassLabel | Image | Audio)


def needs_decoding(feature: FeatureType) -> bool:
    if isinstance(feature, dict):
        return any(needs_decoding(v) for v in feature.values())
    if isinstance(feature, List | LargeList):
        return needs_decoding(feature.feature)
    return isinstance(feature, Image | Audio) and feature.decode


def encode_value(feature: FeatureType, value: Any) -> Any:
    """A Python value -> what Arrow stores (class names -> ids, images -> ``{"bytes", "path"}``)."""
    if value is None:
        return None
    if isinstance(feature, dict):
        return {k: encode_value(f, value.get(k)) for k, f in feature.items()}
    if isinstance(feature, List | LargeList):
        if isinstance(feature.feature, dict) and isinstance(value, dict):  # dict of lists -> list of dicts
            keys = list(value)
            value = [dict(zip(keys, row)) for row in zip(*value.values())]
        return [encode_value(feature.feature, v) for v in value]
    if isinstance(feature, ClassLabel):
        return feature.str2int(value) if isinstance(value, str) else int(value)
    if isinstance(feature, Image | Audio):
        return feature.encode_example(value)
    return value


def decode_value(feature: FeatureType, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(feature, dict):
        return {k: decode_value(f, value.get(k)) for k, f in feature.items()}
    if isinstance(feature, List | LargeList):
        return [decode_value(feature.feature, v) for v in value]
    if isinstance(feature, Image | Audio):
        return feature.decode_example(value)
    return value


class Features(dict):
    """An ordered ``{column: feature}``; builds the Arrow schema and converts rows both ways."""

    @classmethod
    def from_dict(cls, data: dict) -> Features:
        return cls({k: feature_from_dict(v) for k, v in data.items()})

    def to_dict(self) -> dict:
        return {k: feature_to_dict(v) for k, v in self.items()}

    @classmethod
    def from_yaml_list(cls, entries: list[dict]) -> Features:
        return cls({e["name"]: _from_yaml(e) for e in entries})

    def to_yaml_list(self) -> list[dict]:
        return [{"name": k, **_yaml_of(v)} for k, v in self.items()]

    @property
    def type(self) -> pa.StructType:
        return pa.struct({k: to_arrow_type(v) for k, v in self.items()})

    @property
    def arrow_schema(self) -> pa.Schema:
        """The schema with the ``huggingface`` metadata ``datasets`` reads back."""
        meta = {"huggingface": json.dumps({"info": {"features": self.to_dict()}})}
        return pa.schema([pa.field(k, to_arrow_type(v)) for k, v in self.items()], metadata=meta)

    @classmethod
    def from_arrow_schema(cls, schema: pa.Schema) -> Features:
        """Features from the schema's ``huggingface`` metadata when it matches, else from the Arrow types."""
        stored = {}
        raw = (schema.metadata or {}).get(b"huggingface")
        if raw:
            try:
                stored = json.loads(raw).get("info", {}).get("features") or {}
            except (ValueError, AttributeError):
                stored = {}
        out = cls()
        for f in schema:
            feature = feature_from_dict(stored[f.name]) if f.name in stored else None
            if feature is None or to_arrow_type(feature) != f.type:
                feature = from_arrow_type(f.type)
            out[f.name] = feature
        return out

    def copy(self) -> Features:
        return Features(self)

    def encode_example(self, example: dict) -> dict:
        return {k: encode_value(f, example.get(k)) for k, f in self.items()}

    def encode_batch(self, batch: dict) -> dict:
        return {k: [encode_value(f, v) for v in batch[k]] if needs_encoding(f) else batch[k]
                for k, f in self.items() if k in batch}

    def decode_example(self, example: dict) -> dict:
        return {k: decode_value(self[k], v) if k in self and needs_decoding(self[k]) else v
                for k, v in example.items()}

    def decode_column(self, name: str, values: list) -> list:
        feature = self.get(name)
        if feature is None or not needs_decoding(feature):
            return values
        return [decode_value(feature, v) for v in values]

    def flatten(self) -> Features:
        out = Features()
        for k, v in self.items():
            if isinstance(v, dict):
                for sub, f in Features(v).flatten().items():
                    out[f"{k}.{sub}"] = f
            else:
                out[k] = v
        return out


@dataclass
class DatasetInfo:
    """The descriptive part of ``dataset_info.json`` (features live on the dataset)."""

    description: str = ""
    citation: str = ""
    homepage: str = ""
    license: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> DatasetInfo:
        known = {k: data.get(k) or "" for k in ("description", "citation", "homepage", "license")}
        return cls(**known, extra={k: v for k, v in data.items() if k not in known and k != "features"})

    def to_dict(self, features: Features) -> dict:
        return {"citation": self.citation, "description": self.description, "features": features.to_dict(),
                "homepage": self.homepage, "license": self.license, **self.extra}


# -- casting ------------------------------------------------------------------------------------------


def cast_array(array: pa.Array | pa.ChunkedArray, feature: FeatureType) -> pa.Array | pa.ChunkedArray:
    """Cast stored values to ``feature``: strings become class ids, paths become media structs,
    lists and structs are cast element by element. Raises ``ValueError`` on an invalid value."""
    if isinstance(array, pa.ChunkedArray):
        chunks = [cast_array(c, feature) for c in array.chunks]
        return pa.chunked_array(chunks, type=to_arrow_type(feature))
    target = to_arrow_type(feature)
    if isinstance(feature, ClassLabel):
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            ids = [None if v is None else feature.str2int(v) for v in array.to_pylist()]
            return pa.array(ids, pa.int64())
        out = array.cast(pa.int64())
        bad = pc.or_(pc.less(out, -1), pc.greater_equal(out, feature.num_classes))
        if pc.any(bad).as_py():
            raise ValueError(f"Class ids out of range 0..{feature.num_classes - 1} for {feature}")
        return out
    if isinstance(feature, Image | Audio) and not pa.types.is_struct(array.type):
        return pa.array([feature.encode_example(v) for v in array.to_pylist()], target)
    if isinstance(feature, dict) and pa.types.is_struct(array.type):
        fields = [cast_array(array.field(k) if array.type.get_field_index(k) >= 0 else pa.nulls(len(array)), f)
                  for k, f in feature.items()]
        return pa.StructArray.from_arrays(fields, names=list(feature), mask=array.is_null())
    if isinstance(feature, List | LargeList) and (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)
                                                  or pa.types.is_fixed_size_list(array.type)):
        values = cast_array(array.flatten(), feature.feature)
        if array.offset or array.null_count:
            array = pa.array(array.to_pylist(), array.type)  # normalised offsets and nulls
        if isinstance(feature, List) and feature.length >= 0:
            return pa.FixedSizeListArray.from_arrays(values, feature.length, mask=array.is_null())
        offsets = array.offsets if not pa.types.is_fixed_size_list(array.type) else \
            pa.array(np.arange(len(array) + 1) * array.type.list_size, pa.int32())
        cls = pa.LargeListArray if isinstance(feature, LargeList) else pa.ListArray
        offsets = offsets.cast(pa.int64() if isinstance(feature, LargeList) else pa.int32())
        return cls.from_arrays(offsets, values, mask=array.is_null() if array.null_count else None)
    return array.cast(target)


def cast_table(table: pa.Table, features: Features) -> pa.Table:
    """``table`` cast column by column to ``features`` (same column names), with their metadata."""
    if list(table.column_names) != list(features):
        missing = set(features) ^ set(table.column_names)
        if missing:
            raise ValueError(f"Columns differ from the features: {sorted(missing)}")
        table = table.select(list(features))
    columns = [cast_array(table.column(k), f) for k, f in features.items()]
    return pa.Table.from_arrays(columns, schema=features.arrow_schema)
