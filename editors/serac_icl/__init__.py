"""serac-icl, our SERAC variant: the shared edit memory, an MLP scope classifier, and the base model conditioned
on the routed edit in place of a trained counterfactual model (SERAC as published: editors/serac)."""

from editors.serac_icl.checkpoint import CHECKPOINT_FILE, default_checkpoint_dir, resolve_checkpoint
from editors.serac_icl.classifier import ScopeClassifier
from editors.serac_icl.editor import SERACICL, SERACICLConfig

__all__ = ["CHECKPOINT_FILE", "SERACICL", "SERACICLConfig", "ScopeClassifier", "default_checkpoint_dir",
           "resolve_checkpoint"]
