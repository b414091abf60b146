"""SERAC's counterfactual model: the base model with a trained LoRA adapter, reading "edit: <edit> query: <query>".

The published SERAC trains a separate counterfactual model h_psi(z_e, x) that answers a query x given the
in-scope edit z_e (paper section 3, Eq. 3: maximise log p_psi(y_e | z_e, x_in)); the authors' LLaMA
configuration uses a small model of the same family (EasyEdit hparams/TRAINING/SERAC/llama-7b.yaml line 4,
`small_name: llama-160m`) and prepends the edit to the query (EasyEdit easyeditor/trainer/algs/SERAC.py
`build_rep_input_tokens`: context + input). The smallest SmolLM2 is the 135M base model itself, so here the
counterfactual model is that model plus a LoRA adapter (editors/lora/hooked.py) switched on only for queries the
scope classifier routes to an edit; every other query runs the untouched base model.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.data.schema import Edit

PROMPT = "edit: {edit} query: {query}"


def counterfactual_prompt(edit: Edit, query: str) -> str:
    """What the counterfactual model reads: the routed edit as a sentence, then the query."""
    return PROMPT.format(edit=edit.sentence, query=query)


@dataclass(frozen=True)
class AdapterShape:
    """Where the counterfactual adapter sits and its size (recorded in the checkpoint, read back by the editor)."""

    parts: str = "q,v"  # the LoRA editor's default parts (editors/lora/config.py)
    rank: int = 4  # half the LoRA editor's 8, so adapter + classifier stay under 2 MB for SmolLM2-135M
    alpha: int = 16  # alpha / rank = 4, as the LoRA editor's 32 / 8
