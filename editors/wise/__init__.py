"""WISE: a side memory (a copy of one MLP projection) written by the edits, routed to by activation distance."""

from editors.wise.config import WISEConfig, edit_layer
from editors.wise.editor import WISE
from editors.wise.memory import Memory, SideMemories
from editors.wise.merge import ties_merge

__all__ = ["WISE", "Memory", "SideMemories", "WISEConfig", "edit_layer", "ties_merge"]
