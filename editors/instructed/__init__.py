"""InstructEd (the paper's method): soft-instruction prefixes in the attention of a frozen LLM.

Modules: config (editor arguments), instructions (template, spans), attention (the "instructed"
attention implementation and forward context), prefix (trainable tensors), retrieval (instruction
memory), data (training examples), checkpoint (safetensors + JSON), trained_cases (the records a
checkpoint saw), train (CLI), editor.
"""

from editors.instructed.config import InstructEdConfig
from editors.instructed.editor import InstructEd

__all__ = ["InstructEd", "InstructEdConfig"]
