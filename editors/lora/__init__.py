"""LoRA baseline (peft adapter trained on the edits, FT-M objective); `reset()` unloads it bitwise."""

from editors.lora.config import LoRAConfig
from editors.lora.editor import LoRA
from editors.lora.targets import target_modules

__all__ = ["LoRA", "LoRAConfig", "target_modules"]
