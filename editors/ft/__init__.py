"""FT-L and FT-M: constrained fine-tuning of one MLP output projection (EasyEdit's FT baselines)."""

from editors.ft.config import FTConfig, FTLConfig, FTMConfig, edit_layers
from editors.ft.editor import FTL, FTM, FTEditor
from editors.ft.objectives import prompt_last_nll, target_new_nll

__all__ = ["FTL", "FTM", "FTConfig", "FTEditor", "FTLConfig", "FTMConfig", "edit_layers", "prompt_last_nll",
           "target_new_nll"]
