"""Typed hyper-parameters of InstructEd (editor arguments; `--editor-args 'instructed:key=value'`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from editors.base import EditorConfig

MODES = ("gold", "retrieval")
COMPATS = ("strict", "paper")
VARIANTS = ("attn", "ffn")

# The paper's training hyper-parameters (Sec. 4.1.2, App. B): used as `bench train instructed` defaults.
PAPER_LR = 9e-3
PAPER_WEIGHT_DECAY = 0.02
PAPER_BATCH = 6  # edit examples per batch (plus as many locality examples)
PAPER_EPOCHS = 10
PAPER_WARMUP_FRACTION = 0.4  # 4 warm-up epochs of 10
PAPER_LAYERS = (10, 20, 32)  # layers 10-20 of a 32-layer model, scaled to the model's depth
# Named layer ranges (of a 32-layer model, scaled): the paper's middle layers and Table 4's "L:20-30" ablation.
DEPTHS = {"middle": PAPER_LAYERS, "late": (20, 30, 32)}


@dataclass
class InstructEdConfig(EditorConfig):
    """Evaluation-time settings. Shape settings (layers, n_prefix, variant) must match the checkpoint."""

    mode: str = "gold"  # gold: the case's own instruction; retrieval: from the memory of edits made so far
    compat: str = "strict"  # strict (the paper's text) | paper (the authors' code, DESIGN.md section 6)
    checkpoint: str = ""  # empty: results/checkpoints/instructed/<model>[/<ablation tag>]/
    layers: list[int] = field(default_factory=list)  # empty: the range `depth` names, scaled to the model
    depth: str = "middle"  # middle: the paper's layers 10-20 of 32; late: Table 4's 20-30 (used when layers is empty)
    n_prefix: int = 5
    variant: str = "attn"  # attn: prefixes in attention (the paper); ffn: bottleneck adapter on the MLP ("w FFN")
    prefix: bool = True  # off: instruction only, no trained parameters of either variant ("w/o prefix")
    reweight: bool = True  # Eq. 15 similarity re-weighting
    alias_instruction: bool = False  # prepend "s is also known as s'." (Table 9, subject-replace sets)
    encoder: str = ""  # sentence encoder for sim and retrieval; empty: the run's encoder (all-MiniLM-L6-v2)
    retrieval_top_k: int = 5  # scores whose standard deviation gates retrieval
    retrieval_std: float = 0.1  # retrieval fires when std(top-k scores) > this
    # Score assumed for the missing entries while the memory holds fewer than top_k edits: the typical score
    # of an unrelated entry (all-MiniLM-L6-v2 on CounterFact: median of the 2nd-5th scores in a 150-edit
    # memory is 0.31 for paraphrases, 0.35 for neighbourhood prompts). With one edit in memory the gate
    # then fires when the cosine exceeds fill + 0.224; calibrate it for another encoder.
    retrieval_fill: float = 0.3
    multihop_k: int = 3  # facts retrieved for multi-hop (MQuAKE) questions; compat=paper uses the gold hop count

    def validate(self) -> None:
        from bench.errors import BenchError

        for name, value, allowed in (("mode", self.mode, MODES), ("compat", self.compat, COMPATS),
                                     ("variant", self.variant, VARIANTS), ("depth", self.depth, tuple(DEPTHS))):
            if value not in allowed:
                raise BenchError(f"instructed: {name}={value!r} is not one of {', '.join(allowed)}")
        if self.n_prefix < 1:
            raise BenchError(f"instructed: n_prefix must be at least 1, got {self.n_prefix}")
        if self.retrieval_top_k < 2:
            raise BenchError("instructed: retrieval_top_k must be at least 2 (a standard deviation needs two scores)")
        if self.multihop_k < 1:
            raise BenchError(f"instructed: multihop_k must be at least 1, got {self.multihop_k}")

    @property
    def trained(self) -> bool:
        """Whether this configuration has trained parameters (and so needs a checkpoint)."""
        return self.prefix
