import re
from dataclasses import dataclass, field

import pytest

from bench import registry
from bench.editor import Editor
from bench.errors import BenchError
from bench.registry import build_config, canonical_name, editor_group, get_editor_class, parse_editor_args


@dataclass
class _Cfg:
    layers: list[int] = field(default_factory=lambda: [3])
    lr: float = 0.1
    steps: int = 5
    mode: str = "gold"
    reweight: bool = True


class _Editor:
    name = "fake"
    config_class = _Cfg


def test_names_aliases_and_suggestions():
    assert canonical_name("FT") == "ft-m" and canonical_name("none") == "noedit"
    with pytest.raises(BenchError, match="Did you mean 'instructed'"):
        canonical_name("instructd")
    assert get_editor_class("noedit").name == "noedit"


def test_parse_and_coerce_editor_args():
    args = parse_editor_args("rome:layers=3,4,5;instructed:mode=retrieval,reweight=off")
    assert args == {"rome": {"layers": "3,4,5"}, "instructed": {"mode": "retrieval", "reweight": "off"}}
    cfg = build_config(_Editor, {"layers": "10:13", "lr": "1e-3", "steps": "7", "reweight": "off"})
    assert cfg == _Cfg(layers=[10, 11, 12], lr=1e-3, steps=7, reweight=False)
    assert build_config(_Editor, {"layers": "3,4"}).layers == [3, 4]


def test_bad_editor_args_are_explained():
    with pytest.raises(BenchError, match="has no argument 'lyrs'. Did you mean 'layers'. Its arguments are: layers"):
        build_config(_Editor, {"lyrs": "3"})
    with pytest.raises(BenchError, match="no argument 'zzz'. Its arguments are: layers, lr, steps, mode, reweight"):
        build_config(_Editor, {"zzz": "3"})
    with pytest.raises(BenchError, match="not a valid int"):
        build_config(_Editor, {"steps": "many"})
    with pytest.raises(BenchError, match="not of the form"):
        parse_editor_args("rome")


def test_presets_run_under_their_own_name():
    from bench.registry import PRESETS

    assert canonical_name("instructed-retrieval") == "instructed-retrieval"
    assert PRESETS["instructed-retrieval"] == ("instructed", {"mode": "retrieval"})
    cfg = build_config(_Editor, {"steps": "2"}, preset="nonexistent")
    assert cfg.steps == 2


def test_malformed_editor_args_grammar_is_refused():
    # a bare value continues a list only within its own entry (it once joined the previous entry's last key)
    with pytest.raises(BenchError, match="'4' of editor 'rome' has no key"):
        parse_editor_args("rome:layers=3;rome:4,seed=1")
    assert parse_editor_args("ft-m:lr=1,lr=2;ft-m:lr=3") == {"ft-m": {"lr": "3"}}  # later wins (suite + CLI)
    with pytest.raises(BenchError, match="has no key"):
        parse_editor_args("ft-m:=5")
    assert parse_editor_args("rome:layers=3,4;ft-m:lr=1") == {"rome": {"layers": "3,4"}, "ft-m": {"lr": "1"}}


def test_a_huge_layer_range_is_refused_before_it_is_built():
    with pytest.raises(BenchError, match="has 99999999999999999999 items; it needs at most 1024"):
        build_config(_Editor, {"layers": "0:99999999999999999999"})


def test_scoring_is_the_harness_s_and_editors_only_prepare():
    """The contract: no editor routes requests by overriding score/generate; MeLLo's generate is its own loop."""
    classes = {name: get_editor_class(name) for name in registry.EDITORS}
    assert [n for n, cls in classes.items() if "score" in vars(cls)] == []
    assert [n for n, cls in classes.items() if "generate" in vars(cls)] == ["mello"]
    assert not any(hasattr(cls, "prepared_prompts") or hasattr(cls, "prepare_all") for cls in classes.values())
    assert Editor.score.__final__


def test_table_groups_come_from_capabilities():
    groups = {name: editor_group(name) for name in registry.EDITORS}
    assert groups == {"noedit": "reference", "ft-l": "M", "ft-m": "M", "rome": "M", "memit": "M", "pmet": "M",
                      "r-rome": "M", "emmet": "M", "alphaedit": "M", "lora": "M", "ike": "P", "instructed": "P",
                      "serac": "P", "serac-icl": "P", "grace": "P", "wise": "P", "mello": "P"}
    assert editor_group("instructed-retrieval") == "P" and editor_group("ftm") == "M"  # presets, aliases
    assert editor_group("a-retired-method") == "other"  # a label of an old run that no installed editor has


def test_one_did_you_mean_for_every_unknown_name():
    from bench.errors import did_you_mean

    assert did_you_mean("tiny-lama", ["tiny-llama", "tiny-gpt2", "smollm2-135m"], n=3) == " Did you mean 'tiny-llama'?"
    assert did_you_mean("CounterFakt", ["counterfact", "zsre"]) == " Did you mean 'counterfact'?"  # any case
    assert did_you_mean("ftm-x", ["ftm"], shown=lambda k: {"ftm": "ft-m"}[k]) == " Did you mean 'ft-m'?"
    assert did_you_mean("qqq", ["zsre"]) == ""


def test_a_misspelled_editor_argument_gets_a_did_you_mean():
    with pytest.raises(BenchError) as err:
        build_config(get_editor_class("rome"), parse_editor_args("rome:layrs=5")["rome"], "rome")
    assert str(err.value).startswith("editor 'rome' has no argument 'layrs'. Did you mean 'layers'? Its arguments are: "
                                     "hparams, layers,")
    assert str(err.value).endswith("(`python -m bench list args rome` describes them).")


def test_a_class_that_is_not_an_editor_is_a_one_paragraph_error(capsys, tmp_path):
    from bench.cli import main

    with pytest.raises(BenchError, match=r"^editor 'json:JSONDecoder' is the class json.decoder.JSONDecoder, not an "
                                         r"editor: an editor class subclasses bench.editor.Editor"):
        canonical_name("json:JSONDecoder")
    with pytest.raises(BenchError, match="^editor 'json:dumps' is a function, not an editor"):
        get_editor_class("json:dumps")
    assert main(["run", "--editors", "json:JSONDecoder", "--dataset", "counterfact", "--model", "tiny-llama",
                 "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert "not an editor" in err and "This is a bug" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_every_editor_argument_has_a_default_a_range_and_one_line_of_meaning():
    for name in registry.catalogue().editors:
        for a in registry.editor_args(name):
            assert a.help and "\n" not in a.help and len(a.help) <= 110, (name, a.name)
            assert a.allowed and a.type, (name, a.name)


def test_editor_args_lists_defaults_ranges_and_meanings():
    import bench

    rome = {a.name: a for a in bench.editor_args("rome")}
    assert list(rome)[:2] == ["hparams", "layers"] and len(rome) == 15
    assert rome["layers"] == registry.EditorArg(
        "layers", "list[int] | None", None, "layers of the model as 3,4,5 or lo:hi (exactly 1), each an integer at "
        "least 0", "the one layer whose MLP output projection is edited; None: hparams")
    ftm = {a.name: a for a in bench.editor_args("FT")}  # an alias
    assert (ftm["lr"].default, ftm["lr"].allowed, ftm["lr"].help) == (5e-4, "a finite number greater than 0",
                                                                       "Adam learning rate")
    assert ftm["layers"].default == [] and ftm["num_steps"].allowed == "an integer from 1 to 100000"
    lora = {a.name: a for a in bench.editor_args("lora")}
    assert lora["parts"].allowed == "a ','-separated list of q, k, v, qkv, o, mlp_in, mlp_gate, mlp_out"
    assert lora["dropout"].allowed == "a finite number at least 0 and less than 1"
    preset = {a.name: a for a in bench.editor_args("instructed-retrieval")}
    assert preset["mode"].default == "retrieval" and preset["prefix"].shown_default == "true"
    assert bench.editor_args("noedit") == []


def test_list_args_prints_every_argument(capsys):
    from bench.cli import main

    assert main(["list", "args", "ft-m"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["argument", "default", "meaning", "/", "accepted", "values"]
    assert lines[3].split() == ["lr", "0.0005", "Adam", "learning", "rate"]
    assert lines[4].strip() == "accepts: a finite number greater than 0"
    assert len(lines) == 2 + 2 * 6 and "--editor-args 'ft-m:NAME=VALUE" in lines[-1]
    assert main(["list", "args"]) != 0
    assert "`list args` needs an editor" in capsys.readouterr().err


def test_list_editors_keeps_its_columns_aligned_for_the_longest_name(capsys):
    from bench.cli import main

    assert main(["list", "editors"]) == 0
    header, *lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()][:-1]  # the last: the kinds
    assert any(ln.startswith("instructed-retrieval-one ") for ln in lines)  # 24 characters
    starts = {re.match(r"\S+\s+", ln).end() for ln in lines}  # where the kind column starts
    assert starts == {header.index("kind")}
