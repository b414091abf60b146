"""One editor through the single, batch and sequential protocols of bench/protocols.py, each checked to end on the
unedited model bitwise (the protocol's own restore check raises otherwise)."""

from __future__ import annotations

from pathlib import Path

from bench.protocols import Baseline, ProtocolConfig, run_protocol
from bench.restore import parameter_hash
from bench.runlog import unit_key_cases, unit_key_edit, unit_key_eval
from bench.scoring import Scorer


def run_every_protocol(editor, cases, state_dir: Path) -> dict[str, list]:
    """{protocol: its units}; the sequential run evaluates every 2 edits and saves the editor's state between."""
    digest = parameter_hash(editor.model)
    baseline = Baseline(Scorer(editor.model, editor.tokenizer))
    configs = {"single": ProtocolConfig("single"), "batch": ProtocolConfig("batch", batch_size=2),
               "sequential": ProtocolConfig("sequential", eval_every=2, state_dir=state_dir)}
    units = {}
    for name, cfg in configs.items():
        units[name] = list(run_protocol(editor, cases, baseline, cfg, set()))
        assert parameter_hash(editor.model) == digest, name
        baseline.verify(editor, f"after the {name} protocol")
    assert [k for k, _ in units["single"]] == [unit_key_cases([c.case_id]) for c in cases]
    assert [k for k, _ in units["batch"]] == [unit_key_cases(c.case_id for c in cases[i:i + 2])
                                              for i in range(0, len(cases), 2)]
    sequential = []
    for n, case in enumerate(cases, 1):
        sequential += [unit_key_edit(case.case_id)] + ([unit_key_eval(n)] if n % 2 == 0 or n == len(cases) else [])
    assert [k for k, _ in units["sequential"]] == sequential
    assert all(rows for unit in units.values() for _, rows in unit)
    assert not state_dir.exists()  # the sequential state is removed once the run finished
    return units


def assert_batch_is_sequential(editor, lm, cases) -> None:
    """Editing cases[:2] as one batch gives the weights of editing them one after the other; reset is bitwise."""
    import torch

    digest = parameter_hash(lm.model)
    editor.edit(cases[:2])
    batched = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    editor.reset()
    editor.edit(cases[:1])
    editor.edit(cases[1:2])
    for name, p in lm.model.named_parameters():
        torch.testing.assert_close(p, batched[name], atol=1e-5, rtol=1e-4)
    editor.reset()
    assert parameter_hash(lm.model) == digest
