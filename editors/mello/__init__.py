"""MeLLo: multi-hop editing by decomposition, retrieval of edited facts and self-checking (MQuAKE)."""

from editors.mello.editor import PROMPT_FILE, MeLLo, MeLLoConfig
from editors.mello.loop import Step, Trace, parse_continuation, run_mello

__all__ = ["PROMPT_FILE", "MeLLo", "MeLLoConfig", "Step", "Trace", "parse_continuation", "run_mello"]
