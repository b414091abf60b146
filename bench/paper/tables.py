"""The InstructEd paper's table layouts (Tables 2, 3, 4, 9, 10, 12 and the batch table), read by bench/tables.py.

Declared in pyproject.toml's entry-point group `knowledge_edit_bench.tables`, so `bench report --table table2` and
`bench suite` find them without the harness importing this package. ROW_ORDER is the paper's row order (data
only: the M / P group of a row comes from its editor's capabilities). `serac` is SERAC as published, `serac-icl` our
variant (docs/departures.md). InstructEd's ablation
variants are named only in the rows of Tables 4, 9 and 12, so they stay out of the other tables
(bench.tables.TableCatalogue).
"""

from __future__ import annotations

from bench.tables import OURS, SIX, UNEDITED, Columns, Layout

ROW_ORDER = ("noedit", "ft-l", "ft-m", "lora", "rome", "r-rome", "memit", "pmet", "emmet", "alphaedit",
             "serac", "serac-icl", "ike", "grace", "wise", "mello", "instructed", "instructed-retrieval",
             "instructed-paper")

_CF, _ZS = ("counterfact", "counterfact-edit"), ("zsre",)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("table2", "Table 2: CounterFact and ZsRE, one edit at a time. M = modifies the model's parameters, "
                     "P = preserves them.",
           (Columns("CounterFact", _CF, SIX), Columns("ZsRE", _ZS, SIX))),
    Layout("table3", "Table 3: MQuAKE (multi-hop). MH_Acc is MQuAKE's official multi-hop accuracy (generation, "
                     "any of the case's questions, aliases).",
           (Columns("MQuAKE", ("mquake*",), ("Por_Nhop", "Hop_Acc", "MH_Acc")),)),
    Layout("table4", "Table 4: InstructEd ablations (re-weighting off, prefixes in later layers, FFN adapter, "
                     "Eq. 15 on key columns instead of query rows).",
           (Columns("CounterFact", _CF, SIX), Columns("ZsRE", _ZS, SIX)),
           (("ablation", (OURS, "instructed-noreweight", "instructed-late", "instructed-ffn", "instructed-columns")),),
           others=False),
    Layout("table9", "Table 9: portability. Rev = reversed relation (zsre-inverse), Rep = subject replaced; "
                     "'instructed-ins' adds \"s is also known as s'\" to the instruction; + Retrieval (not in the "
                     "paper's table) retrieves among every edit of the dataset.",
           (Columns("ZsRE Rev", ("zsre-inverse",), ("Por_hop",)),
            Columns("ZsRE Rep", ("zsre-subject-replace",), ("Por_hop",)),
            Columns("CT Rep", ("counterfact-subject-replace*",), ("Por_hop",))),
           (("reference", (UNEDITED,)), ("InstructEd", (OURS, "instructed-ins", "instructed-retrieval"))), others=True),
    Layout("table10", "Table 10: sequential editing, 100 edits, all edited cases scored on the final model.",
           (Columns("CounterFact", _CF, SIX, "sequential/final"), Columns("ZsRE", _ZS, SIX, "sequential/final"))),
    Layout("batch", "Batch editing: all cases edited at once (batches of --batch-size), then each scored; not a "
                    "table of the paper (it discusses batch editing only in words, with its sequential results).",
           (Columns("CounterFact", _CF, SIX, "batch"), Columns("ZsRE", _ZS, SIX, "batch"))),
    Layout("table12", "Table 12: InstructEd with and without its prefixes (instruction only) on CounterFact.",
           (Columns("CounterFact", _CF, ("Rel", "Gen", "Loc", "Por_hop", "Score")),),
           (("", (OURS, "instructed-noprefix")),), others=False),
)}
