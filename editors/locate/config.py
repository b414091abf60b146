"""Typed hyper-parameters of the locate-and-edit methods, resolved from one JSON file per (method, model).

Every field defaults to None, meaning "take it from the hyper-parameter file";
a value given on the command line (`--editor-args rome:layers=5`) wins over the
file. `hparams=auto` picks `<method>/hparams/<model>.json`; a path picks that
file, or an EasyEdit hparams file when it ends in .yaml/.yml (mapping, checks and
layer rule: editors/locate/easyedit.py). Module names never appear in these files:
sites come from bench/arch.py. For a model without a file, the llama-2-7b file is
used with its layers scaled by depth (layer l of 32 -> round(l * n / 32)), and
describe() says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from pathlib import Path

from bench.arch import num_layers
from bench.arguments import (
    MAX_COUNT,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_STEPS,
    arg,
    check_config,
    is_yaml_path,
    read_json_object,
)
from bench.editor import EditorConfig
from bench.errors import BenchError
from bench.models import DTYPES, LoadedModel
from editors.locate.corpora import CORPORA
from editors.locate.easyedit import SOURCE_OF, easyedit_values
from editors.locate.hparams import REFERENCE_DEPTH, REFERENCE_MODEL, check_file_values, model_key, scale_layers

logger = logging.getLogger(__name__)

MAX_CONTEXT_TOKENS = 4096  # length of one sampled context prefix


@dataclass
class LocateConfig(EditorConfig):
    # (None below: the value of the hyper-parameter file, see the module docstring)
    hparams: str = arg("auto", special=("auto",), file="hparams",
                       help="auto: hparams/<model>.json of the method; else a JSON or EasyEdit .yaml/.yml file")
    layers: list[int] | None = arg(None, lo=0, layer=True, min_items=1,
                                   help="layers whose MLP output projections are edited; None: hparams")
    v_num_grad_steps: int | None = arg(None, lo=1, hi=MAX_STEPS,
                                       help="optimisation steps of each edit's target value; None: hparams")
    v_lr: float | None = arg(None, above=0, help="Adam learning rate of the target value; None: hparams")
    v_weight_decay: float | None = arg(None, lo=0,
                                       help="weight of the value delta's relative norm in its loss; None: hparams")
    kl_factor: float | None = arg(None, lo=0,
                                  help="weight of the KL term keeping the subject's essence ('{} is a'); None: hparams")
    clamp_norm_factor: float | None = arg(None, above=0,
                                          help="the value delta is clamped to this times the initial value's norm; "
                                               "None: hparams")
    context_lengths: list[int] | None = arg(None, lo=1, hi=MAX_CONTEXT_TOKENS,
                                            help="token lengths of the sampled context prefixes; None: hparams")
    contexts_per_length: int | None = arg(None, lo=0, hi=MAX_COUNT,
                                          help="context prefixes per length (0: the bare prompt only); None: hparams")
    mom2_adjustment: bool | None = arg(None, help="use the keys' second moments C (false: C = I, no statistics); "
                                                  "None: hparams")
    stats_corpus: str | None = arg(None, choices=CORPORA, head=":", note="prompts:SPEC[+SPEC] picks datasets",
                                   help="text the second-moment statistics are computed on; None: hparams")
    stats_samples: int | None = arg(None, lo=1, hi=MAX_SAMPLES,
                                    help="token vectors in the second-moment statistics; None: hparams")
    stats_dtype: str | None = arg(None, choices=tuple(DTYPES),
                                  help="dtype the statistics are accumulated in; None: hparams")
    seed: int | None = arg(None, lo=0, hi=MAX_SEED,
                           help="seed of the context prefixes and corpus sampling; None: the run's --seed")
    value_chunk: int | None = arg(None, lo=1, hi=MAX_COUNT,
                                  help="requests whose target values are optimised jointly; None: hparams")

    def check_model(self, editor: str, lm: LoadedModel, editor_cls) -> None:
        """Read and check the hyper-parameter file this model will use, before statistics are built."""
        self.resolved(lm, 0, editor_cls)

    def resolved(self, lm: LoadedModel, seed: int, editor_cls, protocol: str = "single") -> LocateConfig:
        """The None fields filled as LocateEditor fills them: the seed from the run's, the rest from the file."""
        config = self if self.seed is not None else replace(self, seed=seed)
        return resolve_config(config, editor_cls.method_dir, lm, quiet=True)[0]


def hparams_file(method_dir: Path, lm: LoadedModel, choice: str) -> tuple[Path, bool]:
    """The file to read and whether its layers must be scaled to this model's depth."""
    if choice != "auto":
        path = Path(choice)
        if not path.exists():
            raise BenchError(f"hyper-parameter file {choice} does not exist")
        return path, False
    path = method_dir / "hparams" / f"{model_key(lm.name)}.json"
    if path.exists():
        return path, False
    return method_dir / "hparams" / f"{REFERENCE_MODEL}.json", True


def resolve_config(config: LocateConfig, method_dir: Path, lm: LoadedModel,
                   quiet: bool = False) -> tuple[LocateConfig, str]:
    """Fill the config's None fields from the hyper-parameter file; return it and a note on its source.

    The file's values are checked as command-line values are (type and range), naming the file."""
    editor = method_dir.name
    path, scale = hparams_file(method_dir, lm, config.hparams)
    easyedit = is_yaml_path(str(path))
    if easyedit:
        values, source = easyedit_values(editor, path, config, lm, quiet)
    else:
        values, source = _json_values(editor, path, config, lm, scale, quiet)
    merged = {k: v for k, v in values.items() if getattr(config, k) is None}
    resolved = replace(config, **merged)
    missing = [f.name for f in fields(resolved) if getattr(resolved, f.name) is None]
    if missing:
        hint = ""
        if easyedit:
            hint = f" (EasyEdit: {', '.join(SOURCE_OF.get(m, m) for m in missing)}; or give them as editor arguments)"
        raise BenchError(f"{path}: missing hyper-parameter(s) {', '.join(missing)}{hint}")
    depth = num_layers(lm.model)
    if not resolved.layers or any(not 0 <= x < depth for x in resolved.layers):
        raise BenchError(f"layers={resolved.layers} is not a non-empty list of layers of this {depth}-layer model")
    check_config(editor, resolved)  # also a config built without build_config (tests, the perf scripts)
    return resolved, source


def _json_values(editor: str, path: Path, config: LocateConfig, lm: LoadedModel, scale: bool,
                 quiet: bool) -> tuple[dict, str]:
    """The values of one of our JSON files, checked, layers scaled from the reference model when `scale`."""
    values = {k: v for k, v in read_json_object(editor, "hparams", str(path)).items() if not k.startswith("_")}
    known = {f.name for f in fields(config)}
    unknown = set(values) - known
    if unknown:
        raise BenchError(f"{path}: unknown hyper-parameter(s) {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(sorted(known))}")
    check_file_values(editor, path, values, config)
    source = str(path)
    if scale:
        depth = num_layers(lm.model)
        values["layers"] = scale_layers(values["layers"], REFERENCE_DEPTH, depth)
        source = f"{path} with layers scaled by depth ({depth}/{REFERENCE_DEPTH}); no file for '{lm.name}'"
        if not quiet:
            logger.info("%s: %s", editor, source)
    return values, source


