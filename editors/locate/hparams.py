"""Helpers both hyper-parameter readers share (our JSON files in editors/locate/config.py, EasyEdit's .yaml in
editors/locate/easyedit.py): model names of the files, layer scaling by depth, and the type and range check of a
file's values. A leaf module, so that the two readers import it and config.py alone imports easyedit.py.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from bench.arguments import check_value, rule_of
from bench.editor import EditorConfig
from bench.errors import BenchError

MODEL_ALIASES = {
    "gpt2-xl": "gpt2-xl", "openai-community/gpt2-xl": "gpt2-xl",
    "meta-llama/llama-2-7b-hf": "llama-2-7b", "llama-2-7b-hf": "llama-2-7b", "llama-2-7b": "llama-2-7b",
    "google/gemma-3-270m": "gemma3-270m", "gemma-3-270m": "gemma3-270m",
    "huggingfacetb/smollm2-135m-instruct": "smollm2-135m", "huggingfacetb/smollm2-135m": "smollm2-135m",
}
REFERENCE_MODEL, REFERENCE_DEPTH = "llama-2-7b", 32


def model_key(name: str) -> str:
    """The name a model's hyper-parameter file goes by: its alias, else its last path component, lower case."""
    name = str(name).rstrip("/").lower()
    return MODEL_ALIASES.get(name, name.rsplit("/", 1)[-1])


def scale_layers(layers: list[int], from_depth: int, depth: int) -> list[int]:
    """Layers of a `from_depth`-layer model at the same relative depth of a `depth`-layer one."""
    return sorted({min(depth - 1, round(x * depth / from_depth)) for x in layers})


def check_file_values(editor: str, path: Path, values: dict, config: EditorConfig) -> None:
    """A hyper-parameter file's values: the field's JSON type, then its declared range."""
    for f in fields(config):
        if f.name not in values:
            continue
        value, kind = values[f.name], str(f.type).split(" |")[0]
        if not _json_type_ok(value, kind):
            raise BenchError(f"{path}: hyper-parameter {f.name}={value!r} is not of type {kind} (editor '{editor}').")
        try:
            check_value(editor, f.name, value, rule_of(f))
        except BenchError as exc:
            raise BenchError(f"{path}: {exc}") from exc


def _json_type_ok(value, kind: str) -> bool:
    if kind == "list[int]":
        return isinstance(value, list) and all(_json_type_ok(x, "int") for x in value)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    types = {"int": int, "bool": bool, "str": str}
    return kind not in types or (isinstance(value, types[kind]) and (kind == "bool") == isinstance(value, bool))
