"""Editor arguments are range-checked when parsed (build_config) and against the model (check_config_for_model).

Each case below once gave a traceback minutes into a run, or silently ran nonsense
(issue 20); now it is one BenchError naming the editor and the argument.
"""

from __future__ import annotations

import json

import pytest

from bench.errors import BenchError
from bench.registry import EDITORS, PRESETS, build_config, check_config_for_model, get_editor_class, parse_editor_args


def build(spec: str):
    ((name, args),) = parse_editor_args(spec).items()
    return name, build_config(get_editor_class(name), args, preset=name)


@pytest.mark.parametrize("name", sorted(EDITORS) + sorted(PRESETS))
def test_defaults_of_every_editor_and_preset_pass(name, tiny_llama, tiny_gpt2):
    config = build_config(get_editor_class(name), {}, preset=name)
    for lm in (tiny_llama, tiny_gpt2):
        check_config_for_model(name, config, lm)


# (spec, what the message must say): tracebacks and silent nonsense of the review and of our reproduction.
PARSE_TIME = [
    ("grace:part=attn", "part='attn' is not one of"),  # IndexError in the hook
    ("lora:rank=0", "rank=0 is out of range"),  # ValueError from peft
    ("lora:alpha=0", "alpha=0 is out of range"),  # a zero-scaled adapter: silently no edit
    ("lora:dropout=1.5", "dropout=1.5 is out of range"),  # ValueError from torch
    ("lora:lr=-1", "lr=-1.0 is out of range"),  # ValueError from Adam
    ("lora:num_steps=-1", "num_steps=-1 is out of range"),  # silently no training
    ("lora:parts=q,bogus", "parts='q,bogus' is not a ','-separated list of"),
    ("ft-m:layers=-1", "layers=[-1] is out of range"),  # KeyError: model.layers.-1
    ("ft-m:lr=nan", "lr=nan is out of range"),  # ValueError from Adam
    ("ft-m:lr=0", "lr=0.0 is out of range"),  # silently no edit
    ("ft-m:num_steps=-5", "num_steps=-5 is out of range"),  # silently no edit
    ("ft-m:num_steps=2147483648", "from 1 to 100000"),  # unbounded
    ("ft-m:weight_decay=-1", "weight_decay=-1.0 is out of range"),  # ValueError from Adam
    ("ft-m:early_stop_loss=nan", "early_stop_loss=nan is out of range"),  # never stops early
    ("ft-l:norm_constraint=-1", "norm_constraint=-1.0 is out of range"),
    ("grace:n_iter=0", "n_iter=0 is out of range"),  # silently no edit
    ("grace:edit_lr=inf", "edit_lr=inf is out of range"),
    ("grace:eps=-1", "eps=-1.0 is out of range"),  # RuntimeError: no grad
    ("grace:layer=-3", "layer=-3 is out of range"),
    ("memit:value_chunk=0", "value_chunk=0 is out of range"),  # ValueError: range() arg 3
    ("memit:mom2_update_weight=-1", "mom2_update_weight=-1.0 is out of range"),
    ("memit:context_lengths=0", "context_lengths=[0] is out of range"),
    ("pmet:stats_samples=0", "stats_samples=0 is out of range"),
    ("pmet:stats_corpus=web", "stats_corpus='web' is not one of model, prompts, wikipedia"),
    ("pmet:stats_dtype=int8", "stats_dtype='int8' is not one of"),
    ("rome:v_lr=nan", "v_lr=nan is out of range"),
    ("rome:kl_factor=-1", "kl_factor=-1.0 is out of range"),
    ("rome:clamp_norm_factor=0", "clamp_norm_factor=0.0 is out of range"),
    ("rome:layers=1,2", "layers='1,2' has 2 items"),  # ROME edits one layer
    ("rome:seed=-1", "seed=-1 is out of range"),
    ("ike:k=-1", "k=-1 is out of range"),  # silently k=0
    ("mello:max_steps=0", "max_steps=0 is out of range"),
    ("mello:score_facts=-1", "score_facts=-1 is out of range"),
    ("mello:prompt_file=/nonexistent/MeLLo-prompt.txt", "prompt_file='/nonexistent/MeLLo-prompt.txt': cannot read"),
    ("serac:threshold=2", "threshold=2.0 is out of range"),
    ("instructed:retrieval_std=nan", "retrieval_std=nan is out of range"),
    ("instructed-retrieval:retrieval_top_k=1", "retrieval_top_k=1 is out of range"),
    ("ft-m:layers=0:99999999999999999999", "has 99999999999999999999 items"),  # OverflowError
]


@pytest.mark.parametrize("spec,message", PARSE_TIME, ids=[s for s, _ in PARSE_TIME])
def test_out_of_range_arguments_are_refused_when_parsed(spec, message):
    editor = spec.split(":")[0]
    with pytest.raises(BenchError, match=f"editor '{editor}': argument .*") as info:
        build(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_message_states_the_allowed_range():
    with pytest.raises(BenchError, match=r"it must be an integer from 1 to 100000\.$"):
        build("ft-m:num_steps=0")
    with pytest.raises(BenchError, match=r"a finite number greater than 0\.$"):
        build("lora:lr=inf")
    with pytest.raises(BenchError, match=r"\(-1: layer 27 of 32, scaled to the model's depth\)"):
        build("grace:layer=-2")


@pytest.mark.parametrize("content,message", [
    ("not json {", "is not valid JSON (line 1"),
    ("[5, 6]", "holds a JSON list, not an object"),
    (None, "cannot read the file"),
])
def test_unreadable_hparams_files_name_editor_argument_and_file(tmp_path, content, message):
    path = tmp_path / "h.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BenchError, match=f"editor 'rome': argument hparams='{path}'") as info:
        build(f"rome:hparams={path}")
    assert message in str(info.value)


def test_a_folder_or_a_device_is_not_an_hparams_file(tmp_path):
    for value in (str(tmp_path), "/dev/zero"):
        with pytest.raises(BenchError, match="cannot read the file"):
            build(f"memit:hparams={value}")


@pytest.mark.parametrize("values,message", [
    ({"v_lr": -1}, "v_lr=-1 is out of range"),
    ({"stats_samples": 0}, "stats_samples=0 is out of range"),
    ({"layers": "5"}, "layers='5' is not of type list[int]"),
    ({"v_num_grad_steps": 2.5}, "v_num_grad_steps=2.5 is not of type int"),
    ({"mom2_adjustment": 1}, "mom2_adjustment=1 is not of type bool"),
])
def test_hparams_file_values_are_checked_like_arguments(tiny_llama, tmp_path, values, message):
    from editors.memit import MEMIT

    reference = json.loads((MEMIT.method_dir / "hparams" / "tiny-llama.json").read_text())
    path = tmp_path / "h.json"
    path.write_text(json.dumps({**reference, **values}))
    name, config = build(f"memit:hparams={path}")
    with pytest.raises(BenchError, match=str(path)) as info:
        check_config_for_model(name, config, tiny_llama)
    assert message in str(info.value)


@pytest.mark.parametrize("spec,message", [
    ("ft-m:layers=99", "argument layers=[99] names layer 99, but model 'tiny-llama' has 4 layers"),  # KeyError
    ("ft-l:layers=1,4", "names layer 4"),
    ("grace:layer=99", "argument layer=99 names layer 99"),  # AttributeError
    ("lora:layers=0,7", "argument layers=[0, 7] names layer 7"),
    ("rome:layers=9", "argument layers=[9] names layer 9"),
    ("memit:layers=2,4", "names layer 4"),
    ("instructed:layers=3,4", "names layer 4"),
])
def test_layers_beyond_the_model_are_refused_before_the_editor_is_built(tiny_llama, spec, message):
    name, config = build(spec)
    with pytest.raises(BenchError, match=f"editor '{name}': ") as info:
        check_config_for_model(name, config, tiny_llama)
    assert message in str(info.value)


@pytest.mark.parametrize("spec,message", [
    ("grace:part=mlp_gate", "argument part='mlp_gate' does not exist in model 'tiny-gpt2'"),
    ("lora:parts=q,mlp_gate", "argument parts='q,mlp_gate' does not fit model 'tiny-gpt2'"),
])
def test_parts_the_architecture_lacks_are_refused(tiny_gpt2, spec, message):
    name, config = build(spec)
    with pytest.raises(BenchError) as info:
        check_config_for_model(name, config, tiny_gpt2)
    assert message in str(info.value)
