"""Where serac-icl's scope classifier lives: <checkpoint root>/serac-icl/<model>/scope_classifier.safetensors
(the shared SERAC location logic, editors/serac/checkpoint.py), or an explicit path."""

from __future__ import annotations

from pathlib import Path

from editors.serac import checkpoint as shared

EDITOR = "serac-icl"
CHECKPOINT_FILE = "scope_classifier.safetensors"


def default_checkpoint_dir(model_name: str) -> Path:
    return shared.default_checkpoint_dir(model_name, EDITOR)


def resolve_checkpoint(explicit: str, model_name: str) -> Path:
    """The classifier file: `explicit` (a file or a folder holding one) or the model's default folder."""
    return shared.resolve(explicit, model_name, EDITOR, CHECKPOINT_FILE)
