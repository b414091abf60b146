"""Editors for the Ray executor's tests, imported by Ray workers as `tests.ray_editors:Class`."""

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.editor import Capabilities, Editor, EditorConfig, PreparedRequests
from bench.restore import RestoredWeights, WeightRestorer


@dataclass
class CrashConfig(EditorConfig):
    marker: str = ""  # the worker process dies in its second edit while this file does not exist (then creates it)


class CrashOnce(Editor):
    """A no-op editor whose worker dies mid-unit once: Ray restarts it and retries the unit."""

    name = "crashonce"
    capabilities = Capabilities(changes_weights=False)
    config_class = CrashConfig

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        self.edits = 0

    def edit(self, cases):
        self.edits += 1
        if self.edits == 2 and self.config.marker and not os.path.exists(self.config.marker):
            open(self.config.marker, "w").close()
            os._exit(1)

    def reset(self):
        pass


@dataclass
class SlowConfig(EditorConfig):
    seconds: float = 1.0


class Slow(Editor):
    """A no-op editor that takes `seconds` per edit: a run long enough to kill its driver mid-way."""

    name = "slow"
    capabilities = Capabilities(changes_weights=False)
    config_class = SlowConfig

    def edit(self, cases):
        time.sleep(self.config.seconds)

    def reset(self):
        pass


@dataclass
class RunCasesConfig(EditorConfig):
    field: str = "run_cases"  # the row field it writes


class RunCases(Editor):
    """A no-op editor that writes on every row how many cases the run gave it (`Editor.begin_run`); without the
    hook it has no list and fails."""

    name = "runcases"
    capabilities = Capabilities(changes_weights=False)
    config_class = RunCasesConfig

    def begin_run(self, cases):
        self.run_cases = [c.case_id for c in cases]

    def edit(self, cases):
        pass

    def reset(self):
        pass

    def prepare(self, requests):
        plain = super().prepare(requests)
        return PreparedRequests(plain.items, row_fields=[{self.config.field: len(self.run_cases)} for _ in requests])


@dataclass
class NudgeConfig(EditorConfig):
    folder: str = ""  # edits.txt: the case id of every edit, in order; fail-once: see Nudge


class Nudge(RestoredWeights, Editor):
    """Adds a constant to one weight per edit and gives its state (a sequential stream that can resume from it).
    Its process's fifth edit fails while `folder`/fail-once does not exist (then creates it): a run stopped part-way."""

    name = "nudge"
    capabilities = Capabilities(changes_weights=True)
    config_class = NudgeConfig

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        self.restorer = WeightRestorer(self.model)
        self.weight = next(n for n, _ in self.model.named_parameters() if n.endswith("mlp.down_proj.weight"))
        self.edits = 0

    def edit(self, cases):
        folder = Path(self.config.folder)
        self.edits += 1
        if self.edits == 5 and not (folder / "fail-once").exists():
            (folder / "fail-once").touch()
            raise RuntimeError("nudge: the planned failure")
        with open(folder / "edits.txt", "a") as fh:
            fh.writelines(f"{c.case_id}\n" for c in cases)
        self.restorer.save([self.weight])
        with torch.no_grad():
            dict(self.model.named_parameters())[self.weight].add_(1e-3)
