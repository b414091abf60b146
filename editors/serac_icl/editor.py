"""serac-icl: our variant of SERAC (not the published method; that is `serac`, editors/serac).

It shares the published SERAC's edit memory and routing (editors/serac/memory.py) and departs in both trained
parts. Scope classifier: a small MLP head on frozen sentence embeddings of (edit, query) (classifier.py), not the
paper's embedding or cross-encoder classifier. Counterfactual model: none is trained; a routed query is answered
by the base model itself conditioned on that edit, in IKE's `New Fact: <edit sentence>\\nPrompt: <query>` block.
Otherwise the untouched base model answers the plain query. Runs recorded before 2026-12-06 as `serac` are this
editor (docs/departures.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from bench.arguments import arg
from bench.editor import EditorConfig, PreparedRequests, Request
from bench.scoring import Prepared
from editors.ike.demos import fact_block
from editors.serac.memory import RoutingEditor
from editors.serac_icl.checkpoint import resolve_checkpoint
from editors.serac_icl.classifier import ScopeClassifier


@dataclass
class SERACICLConfig(EditorConfig):
    checkpoint: str = arg("", help="scope classifier file or folder; empty: results/checkpoints/serac-icl/<model>/")
    threshold: float = arg(-1.0, hi=1, note="a probability; < 0: the checkpoint's own",
                           help="in-scope probability above which a query is routed to the counterfactual model")


class SERACICL(RoutingEditor):
    name = "serac-icl"
    config_class: ClassVar[type] = SERACICLConfig

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        self.checkpoint = resolve_checkpoint(self.config.checkpoint, lm.name)
        self.classifier, self.meta = ScopeClassifier.load(self.checkpoint)
        self.threshold = self.config.threshold if self.config.threshold >= 0 else float(self.meta["threshold"])
        self.encoder_name = self.meta.get("encoder") or self.resources.encoder_name

    def in_scope(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.classifier.matrix(queries, keys)

    def prepare(self, requests: list[Request]) -> PreparedRequests:
        """The routed edit's fact before each in-scope query; one routing call for the batch."""
        routed = self.route([r.query.prompt for r in requests])  # classify the raw query, not a framing
        items = [Prepared(r.text if e is None else fact_block(e.sentence, r.text), r.query.answer)
                 for r, e in zip(requests, routed)]
        return PreparedRequests(items, [e is not None for e in routed])

    def describe(self) -> dict:
        return {**super().describe(), "checkpoint_file": str(self.checkpoint), "threshold_used": self.threshold,
                "encoder": self.encoder_name}
