"""EasyEdit hyper-parameter files (zjunlp/EasyEdit `hparams/<METHOD>/<model>.yaml`) read as ours.

`rome:hparams=PATH.yaml` (and `memit:`, `pmet:`): a `.yaml`/`.yml` file is read in EasyEdit's
format, mapped field by field onto `LocateConfig` and checked as our JSON files are (type and
range, naming the file). The meaning of each field comes from EasyEdit's
`easyeditor/models/{rome,memit,pmet}/*_hparams.py` and the code that reads it.

EasyEdit field                    ours                         how
--------------------------------  ---------------------------  ---------------------------------------------------
layers                            layers                       as written, or scaled by depth on another model
v_num_grad_steps, v_lr,           same names                   as written
  v_weight_decay, kl_factor,
  clamp_norm_factor
mom2_adjustment                   mom2_adjustment              ROME: as written. MEMIT, PMET: EasyEdit's code never
                                                               reads it and always uses C: `true` only (false on
                                                               the command line gives C = I)
mom2_update_weight                mom2_update_weight           MEMIT, PMET (lambda); as written, not rescaled by
                                                               MLP width as our own small-model files are
nll_loss_factor                   nll_loss_factor              PMET
mom2_n_samples                    stats_samples                EasyEdit counts corpus texts (each up to 4096
                                                               tokens), we count token vectors: the same number
                                                               is fewer vectors
mom2_dtype                        stats_dtype                  as written
mom2_dataset                      stats_corpus                 `wikipedia` only (the same wikimedia/wikipedia
                                                               20231101.en); offline add `stats_corpus=model`
context_template_length_params    context_lengths [L, ...],    ROME. EasyEdit samples N // 5 texts of L tokens
  [[L, N], ...]                   contexts_per_length          from each of 5 start words, so do we; N // 5 must
                                  5 * (N // 5)                 be the same for every L
(MEMIT, PMET: [[10, 5]], fixed    context_lengths [10],
  in EasyEdit's code)             contexts_per_length 5
rewrite_module_tmps               update_attention             PMET: true when a template is an attention module
                                                               ('attn' in it, EasyEdit's own test), false when
                                                               all are MLP
fact_token                        -                            `subject_last` only: our keys and values are read
                                                               at the subject's last token
layer_selection                   -                            `all` only: every listed layer is edited (EasyEdit's
                                                               code does not read it either)
v_loss_layer                      -                            the last layer only (our target loss is the model's
                                                               output); it gives the file model's depth
(none)                            value_chunk = 8              requests optimised together: speed only, as in all
                                                               our files

Ignored, with a logged note: fields that only describe the model, the hardware or paths
(IGNORED below: model_name, device, stats_dir, the module-name templates, alg_name once checked,
model_parallel, fp16, batch_size, max_length). Module names never matter here: the edited sites
come from bench/arch.py (ROME/MEMIT: the MLP output projection; a `rewrite_module_tmp` naming an
attention module is refused). Any other setting of a method field is refused, all of them in one
BenchError naming the file, each field, its value and what we support. Fields that EasyEdit's
class for the method does not have are refused as unknown (EasyEdit itself fails on them), except
the ignored ones, accepted for every method.

Layers. An EasyEdit file's layers are for the model it names (`model_name`; llama-7b.yaml:
LLaMA-2-7B, 32 layers). EasyEdit computes the target loss at `v_loss_layer`, which its files set
to their model's last layer (llama-7b 31, gpt2-xl 47, gpt-j-6B 27), so `v_loss_layer + 1` is taken
as the file model's depth (the file states it nowhere else; it is required, as in EasyEdit).
When `model_name` is the run's model (same name after our aliases), `v_loss_layer` must be its
last layer and the layers are used as written. Otherwise the layers are
scaled by depth as our own fallback does (layer l of D -> round(l * n / D) on an n-layer model;
the same depth leaves them as written), and the source note (`hparams_source` in config.json)
says from which model, which depth and to which layers. Layers given on the command line win and
are never scaled. YAML's `5e-1` is a string (YAML 1.1); as EasyEdit does, a string that parses as
a number is read as one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

from bench.arch import num_layers
from bench.arguments import MAX_ITEMS, read_yaml_object
from bench.editor import EditorConfig
from bench.errors import BenchError
from bench.models import LoadedModel
from editors.locate.hparams import check_file_values, model_key, scale_layers

log = logging.getLogger(__name__)

ALG_NAMES = {"rome": "ROME", "memit": "MEMIT", "pmet": "PMET"}

RENAMED = {  # EasyEdit field -> ours, the value as written
    "layers": "layers",
    "v_num_grad_steps": "v_num_grad_steps",
    "v_lr": "v_lr",
    "v_weight_decay": "v_weight_decay",
    "kl_factor": "kl_factor",
    "clamp_norm_factor": "clamp_norm_factor",
    "mom2_update_weight": "mom2_update_weight",
    "nll_loss_factor": "nll_loss_factor",
    "mom2_n_samples": "stats_samples",
    "mom2_dtype": "stats_dtype",
}
NUMBERS = {"v_num_grad_steps", "v_lr", "v_weight_decay", "kl_factor", "clamp_norm_factor", "mom2_update_weight",
           "nll_loss_factor", "mom2_n_samples", "v_loss_layer"}
INTEGERS = {"v_num_grad_steps", "mom2_n_samples", "v_loss_layer"}

FIXED = {  # method variants: the one value we run, and why
    "fact_token": ("subject_last", "our keys and values are read at the subject's last token"),
    "layer_selection": ("all", "every listed layer is edited"),
    "mom2_dataset": ("wikipedia", "the second-moment corpus; ours are model, prompts and wikipedia"),
}
_MODULES = "module names: the edited sites come from bench/arch.py"
IGNORED = {  # fields that only describe the model, the hardware or paths
    "alg_name": "checked against the editor",
    "model_name": "its depth (v_loss_layer + 1) decides whether layers are scaled",
    "device": "the run's --device",
    "model_parallel": "the run's --device",
    "fp16": "the run's --dtype",
    "stats_dir": "statistics are cached under the cache root",
    "rewrite_module_tmp": _MODULES,
    "layer_module_tmp": _MODULES,
    "mlp_module_tmp": _MODULES,
    "attn_module_tmp": _MODULES,
    "ln_f_module": _MODULES,
    "lm_head_module": _MODULES,
    "batch_size": "edits per batch are the run's protocol (--batch-size)",
    "max_length": "a prompt length limit of EasyEdit's evaluation",
}

_COMMON = {"layers", "fact_token", "v_num_grad_steps", "v_lr", "v_loss_layer", "v_weight_decay", "clamp_norm_factor",
           "kl_factor", "mom2_adjustment", "rewrite_module_tmp", "layer_module_tmp", "mlp_module_tmp",
           "attn_module_tmp", "ln_f_module", "lm_head_module", "mom2_dataset", "mom2_n_samples", "mom2_dtype",
           "alg_name", "device", "model_name", "stats_dir", "max_length", "model_parallel"}
FIELDS = {  # the fields of EasyEdit's ROMEHyperParams, MEMITHyperParams, PMETHyperParams
    "rome": _COMMON | {"context_template_length_params", "fp16"},
    "memit": _COMMON | {"layer_selection", "mom2_update_weight", "batch_size"},
    "pmet": _COMMON | {"layer_selection", "mom2_update_weight", "batch_size", "nll_loss_factor", "rewrite_module_tmps"},
}
IMPLIED = {  # ours that an EasyEdit file does not carry: EasyEdit's code fixes them, or they are speed only
    "rome": {"value_chunk": 8},
    "memit": {"context_lengths": [10], "contexts_per_length": 5, "value_chunk": 8},
    "pmet": {"context_lengths": [10], "contexts_per_length": 5, "value_chunk": 8},
}
SOURCE_OF = {"stats_samples": "mom2_n_samples", "stats_dtype": "mom2_dtype", "stats_corpus": "mom2_dataset",
             "context_lengths": "context_template_length_params",
             "contexts_per_length": "context_template_length_params", "update_attention": "rewrite_module_tmps"}


@dataclass
class EasyEditFile:
    """An EasyEdit file in our terms, before its layers are placed on the run's model."""

    values: dict  # our field -> value
    origin: dict  # our field -> the EasyEdit field it comes from (for messages)
    model_name: str | None
    loss_layer: int
    notes: list[str] = field(default_factory=list)  # what was ignored or implied, for the log


def easyedit_values(editor: str, path: Path, config: EditorConfig, lm: LoadedModel,
                    quiet: bool = False) -> tuple[dict, str]:
    """Our hyper-parameter values from EasyEdit file `path`, checked, layers placed; and the source note."""
    if editor not in ALG_NAMES:
        raise BenchError(f"{path}: EasyEdit hyper-parameter files are read for {', '.join(ALG_NAMES)} only; give "
                         f"'{editor}' a JSON file like those in editors/{editor}/hparams/.")
    data = read_yaml_object(editor, "hparams", str(path))
    given = {f.name for f in fields(config) if getattr(config, f.name) is not None}
    file = translate(editor, path, data, given, {f.name for f in fields(config)})
    for ours, value in file.values.items():
        try:
            check_file_values(editor, path, {ours: value}, config)
        except BenchError as exc:
            reason, name = str(exc).removeprefix(f"{path}: "), file.origin[ours]
            read_as = "" if name == ours else f", read as our {ours}"
            raise BenchError(f"{path}: EasyEdit field {name}={_show(value)}{read_as}: {reason}") from exc
    values, source = place_layers(editor, path, file, lm, layers_given="layers" in given)
    if not quiet:
        for note in file.notes:
            log.info("%s: %s: %s", editor, path, note)
        log.info("%s: %s", editor, source)
    return values, source


def translate(editor: str, path: Path, data: dict, given: frozenset | set = frozenset(),
              own: frozenset | set = frozenset()) -> EasyEditFile:
    """EasyEdit's fields as ours (layers as written); refuse what our method cannot run.

    `given`: our fields set on the command line (a file value they replace is not refused); `own`: our config's
    field names (an EasyEdit file naming one of them is told to give it on the command line)."""
    _check_header(editor, path, data, own)
    raw = {k: _number(v, k in INTEGERS) if k in NUMBERS else v for k, v in data.items()}
    values, origin, refused = _read_fields(editor, path, raw, given)
    if refused:
        raise BenchError(f"{path}: EasyEdit setting(s) our {ALG_NAMES[editor]} does not run: {'; '.join(refused)}.")
    loss = _loss_layer(path, raw)
    notes = []
    for ours, value in IMPLIED[editor].items():
        if ours not in values:
            values[ours], origin[ours] = value, "(implied)"
            why = "ours, speed only" if ours == "value_chunk" else f"fixed in EasyEdit's {ALG_NAMES[editor]} code"
            notes.append(f"{ours}={value} implied ({why})")
    if "stats_samples" in values:
        notes.append(f"mom2_n_samples={_show(values['stats_samples'])} read as that many token vectors "
                     f"(EasyEdit counts texts)")
    notes += _ignored_note(raw)
    model = raw.get("model_name")
    return EasyEditFile(values, origin, None if model is None else str(model), loss, notes)


def _check_header(editor: str, path: Path, data: dict, own: frozenset | set) -> None:
    """Every field is one of the method's EasyEdit fields, and alg_name (if given) names the method."""
    alg = ALG_NAMES[editor]
    unknown = sorted(str(k) for k in data if k not in FIELDS[editor] and k not in IGNORED)
    if unknown:
        ours = set(own) & set(unknown)
        hint = (f" ({', '.join(sorted(ours))}: our own field names; give them on the command line or in a JSON "
                f"file)") if ours else ""
        raise BenchError(f"{path}: not a field of EasyEdit's {alg}HyperParams: {', '.join(unknown)}{hint}; its "
                         f"fields are {', '.join(sorted(FIELDS[editor] | set(IGNORED)))}.")
    alg_name = data.get("alg_name")
    if alg_name is not None and str(alg_name).upper() != alg:
        raise BenchError(f"{path}: EasyEdit field alg_name={_show(alg_name)}: the file is for another method "
                         f"than {alg} (editor '{editor}').")


def _read_fields(editor: str, path: Path, raw: dict, given: frozenset | set) -> tuple[dict, dict, list[str]]:
    """(our values, the EasyEdit field each came from, the settings our method cannot run)."""
    alg = ALG_NAMES[editor]
    values, origin, refused = {}, {}, []

    def put(ours: str, value, source: str) -> None:
        values[ours], origin[ours] = value, source

    for name, ours in RENAMED.items():
        if name in raw:
            put(ours, raw[name], name)
    for name, (supported, why) in FIXED.items():
        if name in raw and raw[name] != supported:
            refused.append(f"{name}={_show(raw[name])} ({why}; we run {name}: {supported} only)")
    if raw.get("mom2_dataset") == "wikipedia":
        put("stats_corpus", "wikipedia", "mom2_dataset")
    if "mom2_adjustment" in raw:
        adjust = raw["mom2_adjustment"]
        if editor != "rome" and adjust is False and "mom2_adjustment" not in given:
            refused.append(f"mom2_adjustment=False (EasyEdit's {alg} code does not read it and always uses the "
                           f"second-moment statistics; we run that as mom2_adjustment: true, or C = I when the "
                           f"command line says mom2_adjustment=false)")
        else:
            put("mom2_adjustment", adjust, "mom2_adjustment")
    refused += _module_refusals(editor, path, raw, put)
    if "context_template_length_params" in raw:
        pairs = _contexts(path, raw["context_template_length_params"])
        if len({count for _, count in pairs}) > 1:
            refused.append(f"context_template_length_params={_show(raw['context_template_length_params'])} (a "
                           f"different number of prefixes per length; we sample the same number for every "
                           f"length: context_lengths, contexts_per_length)")
        else:
            put("context_lengths", [length for length, _ in pairs], "context_template_length_params")
            put("contexts_per_length", pairs[0][1], "context_template_length_params")
    return values, origin, refused


def _module_refusals(editor: str, path: Path, raw: dict, put) -> list[str]:
    """The rewritten modules: the MLP output projection (PMET: and the attention's, read as update_attention)."""
    alg, refused = ALG_NAMES[editor], []
    template = raw.get("rewrite_module_tmp")
    if editor != "pmet" and isinstance(template, str) and "attn" in template:
        refused.append(f"rewrite_module_tmp={_show(template)} (an attention module; {alg} edits the MLP output "
                       f"projection only)")
    if editor == "pmet" and "rewrite_module_tmps" in raw:
        templates = raw["rewrite_module_tmps"]
        if not (isinstance(templates, list) and templates and all(isinstance(t, str) for t in templates)):
            raise BenchError(f"{path}: EasyEdit field rewrite_module_tmps={_show(templates)} is not a non-empty "
                             f"list of module-name templates.")
        if all("attn" in t for t in templates):
            refused.append(f"rewrite_module_tmps={_show(templates)} (attention only; PMET updates the MLP output "
                           f"projections, and the attention output projections too with update_attention: true)")
        put("update_attention", any("attn" in t for t in templates), "rewrite_module_tmps")
    return refused


def _loss_layer(path: Path, raw: dict) -> int:
    """v_loss_layer, which EasyEdit requires: the last layer of the file's model, so it gives that model's depth."""
    if "v_loss_layer" not in raw:
        raise BenchError(f"{path}: the EasyEdit field v_loss_layer is missing (EasyEdit requires it: the layer "
                         f"the target loss is computed at, the last layer of the file's model, whose depth it gives).")
    loss = raw["v_loss_layer"]
    if not isinstance(loss, int) or isinstance(loss, bool) or not 0 <= loss < MAX_ITEMS:
        raise BenchError(f"{path}: EasyEdit field v_loss_layer={_show(loss)} is not a layer index (an integer from "
                         f"0 to {MAX_ITEMS - 1}).")
    return loss


def _ignored_note(raw: dict) -> list[str]:
    """One note naming the fields read as model, hardware or paths only, grouped by why."""
    reasons: dict[str, list[str]] = {}
    for name in sorted(k for k in raw if k in IGNORED):
        reasons.setdefault(IGNORED[name], []).append(name)
    if not reasons:
        return []
    return ["ignored (model, hardware or paths only): "
            + "; ".join(f"{', '.join(names)} ({why})" for why, names in reasons.items())]


def place_layers(editor: str, path: Path, file: EasyEditFile, lm: LoadedModel,
                 layers_given: bool = False) -> tuple[dict, str]:
    """The file's layers on the run's model (see the module docstring) and the source note saying how."""
    depth, loss, alg = num_layers(lm.model), file.loss_layer, ALG_NAMES[editor]
    values = dict(file.values)
    layers = values.get("layers")
    written = "layers from the command line" if layers_given or layers is None else "layers as written"
    if file.model_name is not None and model_key(file.model_name) == model_key(str(lm.name)):
        if loss != depth - 1:
            raise BenchError(f"{path}: EasyEdit field v_loss_layer={loss} is not the last layer ({depth - 1}) of "
                             f"'{lm.name}', the model the file names; our {alg} computes the target loss at the "
                             f"model's output only.")
        return values, f"{path} (EasyEdit {alg} file for this run's model '{lm.name}'; {written})"
    if isinstance(layers, list) and layers and max(layers) > loss:
        raise BenchError(f"{path}: EasyEdit fields layers={_show(layers)} and v_loss_layer={loss}: an edited layer "
                         f"above v_loss_layer; our {alg} computes the target loss at the model's output only, so "
                         f"v_loss_layer must be the last layer of the file's model.")
    who = f"for '{file.model_name}'" if file.model_name is not None else "without model_name"
    about = f"{path} (EasyEdit {alg} file {who}, {loss + 1} layers as v_loss_layer={loss} says)"
    if layers_given or layers is None:
        return values, f"{about}; {written}"
    if loss + 1 == depth:
        return values, f"{about}; {written} ('{lm.name}' has as many)"
    values["layers"] = scale_layers(layers, loss + 1, depth)
    return values, (f"{about} with layers scaled by depth ({depth}/{loss + 1}) for '{lm.name}': "
                    f"{layers} -> {values['layers']}")


def _contexts(path: Path, params) -> list[tuple[int, int]]:
    """context_template_length_params [[length, n], ...] -> [(length, prefixes EasyEdit samples: 5 * (n // 5))]."""
    pairs = isinstance(params, list) and params and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in p)
        for p in params)
    if not pairs:
        raise BenchError(f"{path}: EasyEdit field context_template_length_params={_show(params)} is not a list of "
                         f"[length, count] pairs of integers.")
    return [(length, 5 * (n // 5)) for length, n in params]


def _number(value, integer: bool):
    """EasyEdit's reading of a string: a number when float() takes it (YAML 1.1 reads `5e-1` as a string)."""
    if not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if integer and number.is_integer() else number


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

