"""Dataset loading: every source format becomes a list of typed `EditCase` records.

load_dataset("counterfact", limit=10)
load_dataset("mquake:/data/MQuAKE-CF-3k.json")
"""

from bench.data.loaders import load_dataset
from bench.data.registry import DATASETS, FORMATS, DatasetInfo, resolve_data_dir
from bench.data.schema import Edit, EditCase, Query

__all__ = [
    "DATASETS",
    "FORMATS",
    "DatasetInfo",
    "Edit",
    "EditCase",
    "Query",
    "load_dataset",
    "resolve_data_dir",
]
