"""SERAC as published: edit memory + trained scope classifier + trained counterfactual model (a LoRA adapter).

The memory and routing (memory.py), the checkpoint location (checkpoint.py) and the classifier's training pairs
(pairs.py) are shared with our variant `serac-icl` (editors/serac_icl).
"""

from editors.serac.editor import SERAC, SERACConfig
from editors.serac.memory import RoutingEditor
from editors.serac.scope import EmbeddingScope

__all__ = ["SERAC", "EmbeddingScope", "RoutingEditor", "SERACConfig"]
