"""EasyEdit hparams YAML files as the `hparams` argument of ROME, MEMIT and PMET (editors/locate/easyedit.py).

The fixtures under tests/data/easyedit/ are EasyEdit's own llama-7b files (LLaMA-2-7B, 32 layers);
on the 4-layer tiny-llama their layers are scaled by depth.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from bench.errors import BenchError
from bench.registry import build_config, check_config_for_model, get_editor_class
from editors.locate.config import resolve_config

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "easyedit"


def fixture(name: str) -> Path:
    return FIXTURES / f"{name}-llama-7b.yaml"


def resolve(name: str, lm, hparams: Path | str, **args: str):
    """Parse as `--editor-args name:hparams=...,k=v` does, run the model checks, then resolve."""
    cls = get_editor_class(name)
    config = build_config(cls, {"hparams": str(hparams), "seed": "0", **args})
    check_config_for_model(name, config, lm)
    return resolve_config(config, cls.method_dir, lm)


def variant(tmp_path, name: str, suffix: str = ".yaml", drop=(), **changes) -> Path:
    """The fixture of `name` with fields changed or dropped, written as YAML."""
    data = yaml.safe_load(fixture(name).read_text())
    data = {k: v for k, v in {**data, **changes}.items() if k not in drop}
    path = tmp_path / f"{name}{suffix}"
    path.write_text(yaml.safe_dump(data))
    return path


def test_rome_llama_7b_file_field_by_field(tiny_llama):
    config, source = resolve("rome", tiny_llama, fixture("rome"))
    assert config.layers == [1]  # layer 5 of 32 -> round(5 * 4 / 32)
    assert config.v_num_grad_steps == 25
    assert config.v_lr == 0.5 and isinstance(config.v_lr, float)  # `5e-1`: a string in YAML 1.1
    assert config.v_weight_decay == 1e-3
    assert config.kl_factor == 0.0625
    assert config.clamp_norm_factor == 4
    assert config.mom2_adjustment is False
    assert config.context_lengths == [5, 10] and config.contexts_per_length == 10  # [[5, 10], [10, 10]]
    assert config.stats_corpus == "wikipedia"
    assert config.stats_samples == 100000
    assert config.stats_dtype == "float32"
    assert config.value_chunk == 8 and config.seed == 0
    assert "EasyEdit ROME file for './hugging_cache/llama-2-7b-chat', 32 layers as v_loss_layer=31 says" in source
    assert "layers scaled by depth (4/32) for 'tiny-llama': [5] -> [1]" in source


def test_memit_llama_7b_file_field_by_field(tiny_llama):
    config, source = resolve("memit", tiny_llama, fixture("memit"))
    assert config.layers == [0, 1]  # 4..8 of 32 at the depth of 4 layers
    assert config.v_num_grad_steps == 25
    assert config.v_lr == 0.5
    assert config.v_weight_decay == 1e-3
    assert config.kl_factor == 0.0625
    assert config.clamp_norm_factor == 4
    assert config.mom2_adjustment is True
    assert config.mom2_update_weight == 15000
    assert config.context_lengths == [10] and config.contexts_per_length == 5  # fixed in EasyEdit's MEMIT code
    assert config.stats_corpus == "wikipedia"
    assert config.stats_samples == 100000
    assert config.stats_dtype == "float32"
    assert config.value_chunk == 8
    assert "[4, 5, 6, 7, 8] -> [0, 1]" in source


def test_pmet_llama_7b_file_field_by_field(tiny_llama):
    config, _ = resolve("pmet", tiny_llama, fixture("pmet"))
    assert config.layers == [0, 1]
    assert (config.v_num_grad_steps, config.v_lr, config.v_weight_decay) == (20, 0.5, 0.5)
    assert (config.kl_factor, config.clamp_norm_factor) == (0.0625, 1)
    assert config.mom2_adjustment is True and config.mom2_update_weight == 15000
    assert config.nll_loss_factor == 1
    assert config.update_attention is False  # rewrite_module_tmps: the MLP output projection only
    assert config.context_lengths == [10] and config.contexts_per_length == 5
    assert (config.stats_corpus, config.stats_samples, config.stats_dtype) == ("wikipedia", 100000, "float32")


def test_pmet_attention_template_sets_update_attention(tiny_llama, tmp_path):
    path = variant(tmp_path, "pmet", rewrite_module_tmps=["model.layers.{}.self_attn.o_proj",
                                                          "model.layers.{}.mlp.down_proj"])
    assert resolve("pmet", tiny_llama, path)[0].update_attention is True


def test_command_line_values_win_and_are_not_scaled(tiny_llama):
    config, source = resolve("rome", tiny_llama, fixture("rome"), layers="3", v_lr="0.25", stats_corpus="model")
    assert config.layers == [3] and config.v_lr == 0.25 and config.stats_corpus == "model"
    assert "layers from the command line" in source


def test_a_file_for_the_run_model_keeps_its_layers(tiny_llama, tmp_path):
    path = variant(tmp_path, "memit", model_name="tiny-llama", v_loss_layer=3, layers=[2, 3])
    config, source = resolve("memit", tiny_llama, path)
    assert config.layers == [2, 3] and "this run's model 'tiny-llama'; layers as written" in source
    with pytest.raises(BenchError, match=r"v_loss_layer=2 is not the last layer \(3\) of 'tiny-llama'"):
        resolve("memit", tiny_llama, variant(tmp_path, "memit", model_name="tiny-llama", v_loss_layer=2))


def test_another_model_of_the_same_depth_keeps_its_layers(tiny_llama, tmp_path):
    config, source = resolve("rome", tiny_llama, variant(tmp_path, "rome", v_loss_layer=3, layers=[2]))
    assert config.layers == [2] and "4 layers as v_loss_layer=3 says); layers as written" in source


def test_unsupported_settings_are_refused_in_one_error(tiny_llama, tmp_path):
    path = variant(tmp_path, "memit", fact_token="last", layer_selection="random", mom2_dataset="wikitext")
    with pytest.raises(BenchError) as info:
        resolve("memit", tiny_llama, path)
    message = str(info.value)
    assert message.startswith(f"{path}: EasyEdit setting(s) our MEMIT does not run: ")
    assert "fact_token='last'" in message and "fact_token: subject_last only" in message
    assert "layer_selection='random'" in message and "layer_selection: all only" in message
    assert "mom2_dataset='wikitext'" in message and "mom2_dataset: wikipedia only" in message
    assert "\n" not in message


def test_a_loss_layer_below_the_edited_layers_is_refused(tiny_llama, tmp_path):
    with pytest.raises(BenchError, match=r"layers=\[4, 5, 6, 7, 8\] and v_loss_layer=6: an edited layer above"):
        resolve("memit", tiny_llama, variant(tmp_path, "memit", v_loss_layer=6))


@pytest.mark.parametrize("changes,message", [
    ({"mom2_adjustment": False}, "mom2_adjustment=False (EasyEdit's MEMIT code does not read it"),
    ({"rewrite_module_tmp": "model.layers.{}.self_attn.o_proj"}, "an attention module; MEMIT edits the MLP"),
])
def test_memit_settings_easyedit_does_not_run_as_written_are_refused(tiny_llama, tmp_path, changes, message):
    with pytest.raises(BenchError, match="does not run") as info:
        resolve("memit", tiny_llama, variant(tmp_path, "memit", **changes))
    assert message in str(info.value)


def test_memit_without_statistics_from_the_command_line(tiny_llama, tmp_path):
    path = variant(tmp_path, "memit", mom2_adjustment=False)
    assert resolve("memit", tiny_llama, path, mom2_adjustment="false")[0].mom2_adjustment is False


def test_rome_contexts_per_length_as_easyedit_samples_them(tiny_llama, tmp_path):
    path = variant(tmp_path, "rome", context_template_length_params=[[5, 12], [10, 14]])
    config, _ = resolve("rome", tiny_llama, path)  # 12 // 5 and 14 // 5 texts from each of 5 start words
    assert config.context_lengths == [5, 10] and config.contexts_per_length == 10
    with pytest.raises(BenchError, match=r"context_template_length_params=\[\[5, 10\], \[10, 5\]\] \(a different"):
        resolve("rome", tiny_llama, variant(tmp_path, "rome", context_template_length_params=[[5, 10], [10, 5]]))
    with pytest.raises(BenchError, match="is not a list of \\[length, count\\] pairs"):
        resolve("rome", tiny_llama, variant(tmp_path, "rome", context_template_length_params=[5, 10]))


@pytest.mark.parametrize("name,changes,message", [
    ("rome", {"learning_rate": 1}, "not a field of EasyEdit's ROMEHyperParams: learning_rate;"),
    ("rome", {"stats_corpus": "model"}, "stats_corpus: our own field names; give them on the command line"),
    ("rome", {"mom2_update_weight": 1}, "not a field of EasyEdit's ROMEHyperParams: mom2_update_weight"),
    ("memit", {"context_template_length_params": [[5, 10]]}, "MEMITHyperParams: context_template_length_params"),
    ("rome", {"alg_name": "MEMIT"}, "alg_name='MEMIT': the file is for another method than ROME"),
    ("rome", {"v_lr": -1}, "EasyEdit field v_lr=-1: editor 'rome': argument v_lr=-1 is out of"),
    ("rome", {"v_lr": "nan"}, "EasyEdit field v_lr=nan: editor 'rome': argument v_lr=nan is out of range"),
    ("rome", {"mom2_n_samples": 0}, "EasyEdit field mom2_n_samples=0, read as our stats_samples"),
    ("rome", {"v_num_grad_steps": 2.5}, "v_num_grad_steps=2.5 is not of type int"),
    ("rome", {"mom2_adjustment": "no"}, "mom2_adjustment='no' is not of type bool"),
    ("rome", {"mom2_dtype": "int8"}, "stats_dtype='int8' is not one of"),
    ("rome", {"layers": [5, 6]}, "has 2 items"),  # ROME edits one layer
    ("rome", {"v_loss_layer": "last"}, "v_loss_layer='last' is not a layer index"),
])
def test_bad_fields_name_the_file_and_the_field(tiny_llama, tmp_path, name, changes, message):
    path = variant(tmp_path, name, **changes)
    with pytest.raises(BenchError, match=str(path)) as info:
        resolve(name, tiny_llama, path)
    assert message in str(info.value)


def test_missing_fields_are_named_as_easyedit_names_them(tiny_llama, tmp_path):
    with pytest.raises(BenchError, match="v_loss_layer is missing"):
        resolve("rome", tiny_llama, variant(tmp_path, "rome", drop=["v_loss_layer"]))
    with pytest.raises(BenchError, match=r"missing hyper-parameter\(s\) context_lengths, contexts_per_length "
                                         r"\(EasyEdit: context_template_length_params"):
        resolve("rome", tiny_llama, variant(tmp_path, "rome", drop=["context_template_length_params"]))


def test_scientific_notation_strings_are_numbers_as_in_easyedit(tiny_llama, tmp_path):
    config, _ = resolve("rome", tiny_llama, variant(tmp_path, "rome", suffix=".yml", mom2_n_samples="1e5"))
    assert config.stats_samples == 100000 and isinstance(config.stats_samples, int)


@pytest.mark.parametrize("text,message", [
    ("layers: [5\nv_lr: 0.5\n", "the file is not valid YAML (line 2, column"),
    ("alg_name: ROME\n  layers: [5]\n", "the file is not valid YAML (line 2, column 9"),
    ("- 5\n- 6\n", "the file holds a YAML list, not a mapping of hyper-parameters"),
    ("", "the file holds no YAML document"),
    ("a: &x [1]\nlayers: *x\n", "the file uses YAML aliases"),
])
def test_yaml_errors_name_editor_argument_and_file_when_parsed(tmp_path, text, message):
    path = tmp_path / "h.yaml"
    path.write_text(text)
    with pytest.raises(BenchError, match=f"editor 'rome': argument hparams='{path}': ") as info:
        build_config(get_editor_class("rome"), {"hparams": str(path)})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_run_with_an_easyedit_file(tiny_llama, tmp_path, monkeypatch, module_stats_cache):
    """`python -m bench run --editors rome ... --editor-args 'rome:hparams=<EasyEdit yaml>,...'`, in process."""
    monkeypatch.chdir(REPO)
    if os.environ.get("BENCH_DATA_DIR"):
        dataset = "counterfact"
    else:  # one CounterFact record of our own
        from tests.test_runner import _record

        (tmp_path / "cf.json").write_text(json.dumps([_record(0)]))
        dataset = f"counterfact:{tmp_path / 'cf.json'}"
    out = tmp_path / "run"
    args = "rome:hparams=tests/data/easyedit/rome-llama-7b.yaml,mom2_adjustment=false,v_num_grad_steps=2"
    assert main(["run", "--editors", "rome", "--dataset", dataset, "--limit", "1", "--model", "tiny-llama",
                 "--device", "cpu", "--editor-args", args, "--bootstrap", "20", "--out", str(out)]) == 0
    record = json.loads((out / "config.json").read_text())["editors"]["rome"]
    text = json.dumps(record)
    assert "EasyEdit ROME file" in text and "[5] -> [1]" in text


@pytest.mark.parametrize("name", ["r-rome", "emmet", "alphaedit"])
def test_methods_without_an_easyedit_mapping_refuse_yaml_files(tiny_llama, name):
    with pytest.raises(BenchError, match=r"EasyEdit hyper-parameter files are read for rome, memit, pmet only"):
        resolve(name, tiny_llama, fixture("memit"))
