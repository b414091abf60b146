"""Aliases, presets and listing order of the built-in editors.

Declared in pyproject.toml's entry-point group `knowledge_edit_bench.catalogues`; bench/registry.py reads it
without importing any editor, so naming and listing editors stays instant. A plugin may declare a module like
this one for its own editors (every attribute is optional). See docs/architecture.md.
"""

# The order of `python -m bench list editors` (entry points come back sorted by name).
ORDER = ("noedit", "ft-l", "ft-m", "ike", "instructed", "rome", "r-rome", "memit", "pmet", "emmet", "alphaedit", "lora",
         "serac", "serac-icl", "grace", "wise", "mello")

# Named variants: run beside the base editor under their own label, e.g. --editors instructed,instructed-retrieval.
PRESETS: dict[str, tuple[str, dict[str, str]]] = {
    "instructed-retrieval": ("instructed", {"mode": "retrieval"}),  # memory of every edit of the dataset
    "instructed-retrieval-one": ("instructed", {"mode": "retrieval", "memory": "unit"}),  # of the unit's edits
    "instructed-paper": ("instructed", {"compat": "paper"}),
    "instructed-columns": ("instructed", {"scaling": "columns"}),  # Eq. 15 on key columns, the paper's text
    "instructed-noreweight": ("instructed", {"reweight": "off"}),
    "instructed-noprefix": ("instructed", {"prefix": "off", "reweight": "off"}),  # the paper's "w/o prefix"
    "instructed-ffn": ("instructed", {"variant": "ffn"}),
    "instructed-late": ("instructed", {"depth": "late"}),
    "instructed-ins": ("instructed", {"alias_instruction": "true"}),
}

# `python -m bench list editors`: name -> (kind, one line). Kind: what an edit changes. weights = the model's
# parameters; memory = an external store consulted at inference, the weights untouched; prompt = only the text the
# model sees; trained = needs a checkpoint trained beforehand (`python -m bench train NAME`); reference = nothing.
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "noedit": ("reference", "the unedited model: the floor every table shows and never ranks"),
    "ft-l": ("weights", "constrained fine-tuning of one MLP layer on the edit prompt (norm-bounded, last token)"),
    "ft-m": ("weights", "fine-tuning of one MLP layer with the loss masked to the target tokens"),
    "ike": ("prompt", "in-context editing: the new fact and retrieved demonstrations prepended to the prompt"),
    "instructed": ("trained", "InstructEd: an edit instruction plus trained attention prefixes (gold or retrieval)"),
    "rome": ("weights", "ROME: a rank-one update of one MLP layer from a key-value view of the fact"),
    "memit": ("weights", "MEMIT: ROME's update spread over several MLP layers, many edits at once"),
    "pmet": ("weights", "PMET: MEMIT-style; optimises attention and MLP states together, writes MLP weights"),
    "r-rome": ("weights", "r-ROME: ROME with the same key where the update is computed and applied"),
    "emmet": ("weights", "EMMET: batched ROME on MEMIT's layers; each edited key's new value an equality constraint"),
    "alphaedit": ("weights", "AlphaEdit: MEMIT's update projected onto the null space of the preserved keys"),
    "lora": ("weights", "LoRA: low-rank adapters trained on the edit prompt"),
    "serac": ("trained", "SERAC as published: a trained scope classifier routes in-scope queries to a trained "
                         "counterfactual model (a LoRA adapter reading the edit and the query)"),
    "serac-icl": ("trained", "our SERAC variant (not the paper's): an MLP scope classifier routes in-scope queries to "
                             "the base model with the edit in its context"),
    "grace": ("memory", "GRACE: a codebook at one layer; a hidden state near a stored key gets its replacement value"),
    "wise": ("memory", "WISE: edits go to a side copy of one MLP projection, routed to by activation distance"),
    "mello": ("memory", "MeLLo: multi-hop questions decomposed, each step checked against a store of edits"),
}

ALIASES = {"none": "noedit", "base": "noedit", "ft": "ft-m", "ftm": "ft-m", "ftl": "ft-l",
           "insted": "instructed", "instructedit": "instructed"}
