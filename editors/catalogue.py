"""Aliases, presets and listing order of the built-in editors.

Declared in pyproject.toml's entry-point group `knowledge_edit_bench.catalogues`; bench/registry.py reads it
without importing any editor, so naming and listing editors stays instant. A plugin may declare a module like
this one for its own editors (every attribute is optional). See docs/architecture.md.
"""

# The order of `python -m bench list editors` (entry points come back sorted by name).
ORDER = ("noedit", "ft-l", "ft-m", "ike", "instructed", "rome", "memit", "pmet", "lora", "serac", "grace", "mello")

# Named variants: run beside the base editor under their own label, e.g. --editors instructed,instructed-retrieval.
PRESETS: dict[str, tuple[str, dict[str, str]]] = {
    "instructed-retrieval": ("instructed", {"mode": "retrieval"}),
    "instructed-paper": ("instructed", {"compat": "paper"}),
    "instructed-noreweight": ("instructed", {"reweight": "off"}),
    "instructed-noprefix": ("instructed", {"prefix": "off", "reweight": "off"}),  # the paper's "w/o prefix"
    "instructed-ffn": ("instructed", {"variant": "ffn"}),
    "instructed-late": ("instructed", {"depth": "late"}),
    "instructed-ins": ("instructed", {"alias_instruction": "true"}),
}

ALIASES = {"none": "noedit", "base": "noedit", "ft": "ft-m", "ftm": "ft-m", "ftl": "ft-l",
           "insted": "instructed", "instructedit": "instructed"}
