"""Typed hyper-parameters of WISE, from the authors' released LLaMA-2-7B configuration.

Source: zjunlp/EasyEdit hparams/WISE/llama-7b.yaml (commit 14cea82): mask_ratio 0.2 (line 5), edit_lr 1.0
(line 6), n_iter 70 (line 7), norm_constraint 1.0 (line 8), act_margin [5, 20, 10] = alpha, beta, gamma
(line 9), act_ratio 0.88 (line 10), save_freq 500 (line 11), merge_freq 1000 (line 12), merge_alg ties
(line 13), layer model.layers[27].mlp.down_proj of 32 (line 16), densities 0.53 (line 22), weights 1.0
(line 23), retrieve true (line 26). From easyeditor/models/wise/: SGD weight decay 1e-5 (WISE.py line 160),
early stop once the loss is <= 0.02 and changed by <= 1e-4 (utils.py lines 400-401), context templates
from 5 starts (utils.py line 432) continued greedily by 5 and 10 tokens (wise_main.py line 20), irrelevant
prompts x_i from ZsRE's training split (examples/run_wise_editing.py lines 50-51).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.arch import check_part, scaled_layer_range
from bench.arguments import MAX_STEPS, arg
from bench.editor import EditorConfig
from bench.errors import BenchError

REFERENCE_LAYER, REFERENCE_DEPTH = 27, 32
PARTS = ("mlp_out", "mlp_in")  # the value matrix (LLaMA configs) or GPT-2's c_fc (gpt2-xl.yaml line 16)
DISTANCES = ("paper", "code")
MODES = ("retrieve", "merge")


@dataclass
class WISEConfig(EditorConfig):
    layer: int = arg(-1, lo=0, special=(-1,), layer=True, note="-1: layer 27 of 32, scaled to the model's depth",
                     help="the layer whose projection gets a side memory")
    part: str = arg("mlp_out", choices=PARTS, help="arch-table projection copied into the side memory")
    edit_lr: float = arg(1.0, above=0, help="SGD learning rate of the side memory")
    n_iter: int = arg(70, lo=1, hi=MAX_STEPS, help="optimisation steps per edit() call")
    weight_decay: float = arg(1e-5, lo=0, help="SGD weight decay (the authors' WISE.py line 160)")
    norm_constraint: float = arg(1.0, above=0, help="each side-memory entry stays within this of the main one")
    alpha: float = arg(5.0, lo=0, help="margin: irrelevant prompts' activation distance stays below alpha")
    beta: float = arg(20.0, lo=0, help="margin: edit prompts' activation distance rises above beta")
    gamma: float = arg(10.0, lo=0, help="margin: edit distance exceeds the irrelevant one by gamma")
    act_ratio: float = arg(0.88, above=0, help="routing threshold = act_ratio x the smallest edit distance")
    mask_ratio: float = arg(0.2, above=0, hi=1, help="share of side-memory entries a shard may change")
    save_freq: int = arg(500, lo=1, hi=MAX_STEPS, help="edit() calls per knowledge shard")
    merge_freq: int = arg(1000, lo=1, hi=MAX_STEPS, help="edit() calls between Ties merges of shards")
    density: float = arg(0.53, above=0, hi=1, help="Ties: share of each shard's largest changes kept")
    merge_weight: float = arg(1.0, above=0, help="Ties: total weight of the shards merged")
    mode: str = arg("retrieve", choices=MODES,
                    help="retrieve: shards stay apart, the most activated answers; merge: all merge into one memory")
    distance: str = arg("paper", choices=DISTANCES,
                        help="paper: ||A(x)(W_side - W_main)||; code: activation on both outputs first (WISE.py:33-34)")
    irrelevant: str = arg("zsre-train", help="dataset spec whose locality prompts are the irrelevant x_i")
    early_stop_loss: float = arg(0.02, lo=0, help="stop once the loss is at most this ...")
    early_stop_change: float = arg(1e-4, lo=0, help="... and changed by at most this since the last step")

    def check_model(self, editor: str, lm, editor_cls) -> None:
        """The projection must exist here, and shards must merge in whole groups (wise_hparams.py line 54)."""
        check_part(editor, lm.model, lm.name, max(self.layer, 0), self.part)
        if self.merge_freq % self.save_freq:
            raise BenchError(f"editor '{editor}': argument merge_freq={self.merge_freq} must be a multiple of "
                             f"save_freq={self.save_freq} (shards merge in whole groups)")


def edit_layer(model: torch.nn.Module, config: WISEConfig) -> int:
    """The configured layer, or layer 27 of 32 scaled to this model's depth (25 of SmolLM2's 30)."""
    if config.layer >= 0:
        return config.layer
    return scaled_layer_range(model, REFERENCE_LAYER, REFERENCE_LAYER + 1, REFERENCE_DEPTH)[0]
