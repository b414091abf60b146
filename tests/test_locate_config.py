"""Hyper-parameter files per (method, model), command-line overrides, depth-scaled fallback, contexts."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.registry import build_config, get_editor_class
from bench.scoring import Scorer
from editors.locate.config import resolve_config
from editors.locate.sampling import context_prefixes
from editors.rome import ROME


def test_file_values_fill_and_arguments_win(tiny_llama):
    cfg = build_config(ROME, {"layers": "2", "mom2_adjustment": "true", "seed": "0"})
    resolved, source = resolve_config(cfg, ROME.method_dir, tiny_llama)
    assert source.endswith("rome/hparams/tiny-llama.json")
    assert resolved.layers == [2] and resolved.mom2_adjustment is True
    assert resolved.v_lr == json.loads((ROME.method_dir / "hparams" / "tiny-llama.json").read_text())["v_lr"]


def test_unknown_model_scales_the_reference_layers(tiny_llama):
    other = replace(tiny_llama, name="some/unknown-model")
    resolved, source = resolve_config(ROME.config_class(seed=0), ROME.method_dir, other)
    assert "scaled by depth" in source and resolved.layers == [round(5 * 4 / 32)]


def test_bad_files_and_layers_are_refused(tiny_llama, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"layers": [1], "learning_rate": 1}))
    with pytest.raises(BenchError, match="unknown hyper-parameter"):
        resolve_config(ROME.config_class(hparams=str(bad), seed=0), ROME.method_dir, tiny_llama)
    with pytest.raises(BenchError, match="4-layer model"):
        resolve_config(ROME.config_class(layers=[9], seed=0), ROME.method_dir, tiny_llama)


@pytest.mark.parametrize("name", ["rome", "memit", "pmet", "r-rome", "emmet", "alphaedit"])
def test_every_published_file_resolves(name, tiny_llama):
    cls = get_editor_class(name)
    for path in sorted((cls.method_dir / "hparams").glob("*.json")):
        resolve_config(cls.config_class(hparams=str(path), layers=[0], seed=0), cls.method_dir, tiny_llama)


def test_context_prefixes_are_deterministic(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    first = context_prefixes(scorer, [5, 10], 3, seed=0)
    assert first == context_prefixes(scorer, [5, 10], 3, seed=0)
    assert len(first) == 7 and first[0] == "" and all(p.endswith(". ") and "{" not in p for p in first[1:])


def test_seed_defaults_to_the_run_seed(tiny_llama):
    from bench.editor import Resources

    assert ROME(tiny_llama, resources=Resources(seed=3)).config.seed == 3
    assert ROME(tiny_llama, ROME.config_class(seed=5), Resources(seed=3)).config.seed == 5


def _module_imports(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of `root`'s packages it imports anywhere (functions included), read from the source."""
    names = {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
             for p in root.rglob("*.py")}
    graph = {}
    for name, path in names.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:  # `from pkg import mod` imports pkg.mod
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in names else node.module
                          for a in node.names}
        graph[name] = found & set(names) - {name}
    return graph


def test_no_two_modules_of_the_editors_import_each_other():
    graph = _module_imports(Path(__file__).resolve().parents[1] / "editors")
    assert sorted(f"{a} <-> {b}" for a, deps in graph.items() for b in deps if a < b and a in graph[b]) == []
    assert "editors.locate.easyedit" in graph["editors.locate.config"]  # config reads EasyEdit files, not back
