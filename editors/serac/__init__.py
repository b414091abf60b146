"""SERAC: edit memory + trained scope classifier + the base model conditioned on the routed edit."""

from editors.serac.checkpoint import CHECKPOINT_FILE, default_checkpoint_dir, resolve_checkpoint
from editors.serac.classifier import ScopeClassifier
from editors.serac.editor import SERAC, SERACConfig

__all__ = ["CHECKPOINT_FILE", "SERAC", "SERACConfig", "ScopeClassifier", "default_checkpoint_dir",
           "resolve_checkpoint"]
