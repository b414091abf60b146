"""One table of transformer layouts, keyed by `config.model_type`.

Editors ask for "layer 5, MLP output projection" and get a module from here;
no editor hard-codes a module path (the pyvene/peft habit).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.errors import BenchError

PARTS = ("attn", "mlp", "q", "k", "v", "qkv", "o", "mlp_in", "mlp_gate", "mlp_out", "attn_norm", "mlp_norm")


@dataclass(frozen=True)
class ArchSpec:
    """Module names of one architecture; paths of sub-parts are relative to their parent."""

    model_type: str
    layers: str  # the ModuleList of decoder blocks, from the model root
    embed: str
    final_norm: str
    lm_head: str
    attn: str  # relative to a layer
    mlp: str  # relative to a layer
    attn_norm: str  # relative to a layer
    mlp_norm: str  # relative to a layer
    o: str  # relative to attn
    mlp_in: str  # relative to mlp (up projection / c_fc)
    mlp_out: str  # relative to mlp (down projection / c_proj)
    q: str | None = None  # relative to attn; None when q/k/v are fused
    k: str | None = None
    v: str | None = None
    qkv: str | None = None  # fused q/k/v projection (GPT-2)
    mlp_gate: str | None = None
    conv1d: bool = False  # weights stored (in, out) as in GPT-2's Conv1D, not (out, in)
    # norms applied to a sub-block's output before the residual add (Gemma 2/3), relative to a layer
    attn_post_norm: str | None = None
    mlp_post_norm: str | None = None

    def path(self, layer: int, part: str) -> str:
        """Dotted module path of `part` in decoder block `layer`."""
        if part not in PARTS:
            raise BenchError(f"unknown module part '{part}'; known parts: {', '.join(PARTS)}")
        base = f"{self.layers}.{layer}"
        if part in ("attn", "mlp", "attn_norm", "mlp_norm"):
            return f"{base}.{getattr(self, part)}"
        rel = getattr(self, part)
        if rel is None:
            raise BenchError(f"{self.model_type} has no separate '{part}' module")
        parent = self.attn if part in ("q", "k", "v", "qkv", "o") else self.mlp
        return f"{base}.{parent}.{rel}"

    def output_norm_path(self, layer: int, part: str) -> str | None:
        """The norm between `part`'s output and the residual stream (None: the output is added as it is).

        `o`/`attn` feed the attention's post-norm, `mlp_out`/`mlp` the MLP's; a value written at such a
        part reaches the residual stream only through that norm's rescaling.
        """
        rel = {"o": self.attn_post_norm, "attn": self.attn_post_norm,
               "mlp_out": self.mlp_post_norm, "mlp": self.mlp_post_norm}.get(part)
        return None if rel is None else f"{self.layers}.{layer}.{rel}"


_LLAMA = dict(
    layers="model.layers", embed="model.embed_tokens", final_norm="model.norm", lm_head="lm_head",
    attn="self_attn", mlp="mlp", attn_norm="input_layernorm", mlp_norm="post_attention_layernorm",
    q="q_proj", k="k_proj", v="v_proj", o="o_proj",
    mlp_in="up_proj", mlp_gate="gate_proj", mlp_out="down_proj",
)

ARCHITECTURES: dict[str, ArchSpec] = {
    "llama": ArchSpec("llama", **_LLAMA),
    "mistral": ArchSpec("mistral", **_LLAMA),
    "qwen2": ArchSpec("qwen2", **_LLAMA),
    "gemma3_text": ArchSpec("gemma3_text", **{
        **_LLAMA, "mlp_norm": "pre_feedforward_layernorm", "attn_post_norm": "post_attention_layernorm",
        "mlp_post_norm": "post_feedforward_layernorm"}),
    "gpt2": ArchSpec(
        "gpt2", layers="transformer.h", embed="transformer.wte", final_norm="transformer.ln_f",
        lm_head="lm_head", attn="attn", mlp="mlp", attn_norm="ln_1", mlp_norm="ln_2",
        qkv="c_attn", o="c_proj", mlp_in="c_fc", mlp_out="c_proj", conv1d=True,
    ),
    "gptj": ArchSpec(
        "gptj", layers="transformer.h", embed="transformer.wte", final_norm="transformer.ln_f",
        lm_head="lm_head", attn="attn", mlp="mlp", attn_norm="ln_1", mlp_norm="ln_1",
        q="q_proj", k="k_proj", v="v_proj", o="out_proj", mlp_in="fc_in", mlp_out="fc_out",
    ),
}
ARCHITECTURES["gemma3"] = ARCHITECTURES["gemma3_text"]


def arch_of(model: torch.nn.Module) -> ArchSpec:
    model_type = model.config.model_type
    if model_type not in ARCHITECTURES:
        raise BenchError(
            f"model_type '{model_type}' is not in the architecture table (bench/arch.py); "
            f"supported: {', '.join(sorted(ARCHITECTURES))}. Add an ArchSpec entry for it."
        )
    return ARCHITECTURES[model_type]


def text_config(model: torch.nn.Module):
    config = model.config
    return getattr(config, "text_config", None) or config


def num_layers(model: torch.nn.Module) -> int:
    config = text_config(model)
    return getattr(config, "num_hidden_layers", None) or config.n_layer


def head_counts(model: torch.nn.Module) -> tuple[int, int, int]:
    """(query heads, key/value heads, head dim)."""
    config = text_config(model)
    n_heads = getattr(config, "num_attention_heads", None) or config.n_head
    n_kv = getattr(config, "num_key_value_heads", None) or n_heads
    hidden = getattr(config, "hidden_size", None) or config.n_embd
    head_dim = getattr(config, "head_dim", None) or hidden // n_heads
    return n_heads, n_kv, head_dim


def hidden_size(model: torch.nn.Module) -> int:
    config = text_config(model)
    return getattr(config, "hidden_size", None) or config.n_embd


def get_module(model: torch.nn.Module, layer: int, part: str) -> torch.nn.Module:
    return model.get_submodule(arch_of(model).path(layer, part))


def output_norm(model: torch.nn.Module, layer: int, part: str) -> torch.nn.Module | None:
    """The module `ArchSpec.output_norm_path` names, or None."""
    path = arch_of(model).output_norm_path(layer, part)
    return None if path is None else model.get_submodule(path)


def module_path(model: torch.nn.Module, layer: int, part: str) -> str:
    return arch_of(model).path(layer, part)


def check_part(editor: str, model: torch.nn.Module, model_name: str, layer: int, part: str) -> None:
    """The one error for an editor's `part=` argument naming a module this architecture lacks (GPT-2 fuses q, k
    and v and has no gate)."""
    try:
        module_path(model, layer, part)
    except BenchError as exc:
        raise BenchError(f"editor '{editor}': argument part={part!r} does not exist in model "
                         f"'{model_name}': {exc}") from exc


def scaled_layer_range(model: torch.nn.Module, start: int = 10, stop: int = 20, of: int = 32) -> list[int]:
    """A layer range given for an `of`-layer model, scaled to this model's depth (paper: 10-20 of 32)."""
    n = num_layers(model)
    lo, hi = int(start * n / of + 0.5), int(stop * n / of + 0.5)  # round half up
    return list(range(lo, max(hi, lo + 1)))
