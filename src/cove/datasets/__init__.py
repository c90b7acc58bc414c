"""``cove.datasets``: datasets on Apache Arrow, memory-mapped, loaded from files or a Hub.

```python
from cove.datasets import load_dataset

ds = load_dataset("alice/reviews", split="train")         # a Hub dataset repo, or a local folder/file
ds = ds.map(lambda row: {"n": len(row["text"])}).filter(lambda row: row["n"] > 10)
ds.with_format("torch")[:8]                                 # a batch of tensors
```

Interoperates with Hugging Face ``datasets`` both ways: ``save_to_disk`` folders, Parquet and Arrow
files, and ``push_to_hub`` repos written by either library load in the other with the same rows and
features. This package imports pyarrow; ``import cove`` does not.
"""

from __future__ import annotations

from cove.datasets.combine import concatenate_datasets, interleave_datasets
from cove.datasets.dataset import Dataset
from cove.datasets.dataset_dict import DatasetDict
from cove.datasets.features import (
    Audio,
    ClassLabel,
    DatasetInfo,
    Features,
    Image,
    LargeList,
    List,
    Sequence,
    Value,
)
from cove.datasets.io import load_from_disk
from cove.datasets.iterable import IterableDataset, split_dataset_by_node
from cove.datasets.load import load_dataset

__all__ = [
    "Audio", "ClassLabel", "Dataset", "DatasetDict", "DatasetInfo", "Features", "Image", "IterableDataset",
    "LargeList", "List", "Sequence", "Value", "concatenate_datasets", "interleave_datasets", "load_dataset",
    "load_from_disk", "split_dataset_by_node",
]
