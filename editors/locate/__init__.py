"""Shared locate-and-edit machinery (ROME, MEMIT, PMET are thin layers on it).

hooks (read/replace module inputs and outputs, weight overlays), requests
(subject's last token from token ids), sampling (seeded context prefixes),
keys (keys/values at the lookup token), values (target value optimisation),
stats + corpora (cached second-moment statistics), update (closed forms),
config (hyper-parameter files), editor (the Editor shell), causal_trace.
"""

from editors.locate.config import LocateConfig
from editors.locate.editor import LocateEditor

__all__ = ["LocateConfig", "LocateEditor"]
