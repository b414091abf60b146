"""GRACE: a discrete key-value codebook adaptor at one layer, for sequential editing; exact reset."""

from editors.grace.codebook import Codebook
from editors.grace.config import GRACEConfig, edit_layer
from editors.grace.editor import GRACE

__all__ = ["GRACE", "Codebook", "GRACEConfig", "edit_layer"]
