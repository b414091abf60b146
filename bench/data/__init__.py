"""Dataset loading: every source format becomes a list of typed `EditCase` records.

load_dataset("counterfact", limit=10)
load_dataset("mquake:/data/MQuAKE-CF-3k.json")
"""

from bench.data.loaders import load_dataset
from bench.data.registry import DATASETS, DatasetInfo, formats, resolve_data_dir
from bench.data.schema import Edit, EditCase, Query

__all__ = [
    "DATASETS",
    "FORMATS",
    "DatasetInfo",
    "Edit",
    "EditCase",
    "Query",
    "load_dataset",
    "formats",
    "resolve_data_dir",
]


def __getattr__(name: str):
    if name == "FORMATS":  # name -> "module:function", from the entry points (bench/data/registry.py)
        return formats()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
