"""The one reader of the project's entry-point groups (editors' catalogues, suites, table layouts): a plugin's
module that cannot be imported is skipped with a warning, so one broken plugin hides nothing else."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from importlib import metadata
from types import ModuleType


def plugin_modules(group: str, what: str) -> Iterator[ModuleType]:
    """The modules declared in entry-point `group`, in declaration order; `what` names them in the warning."""
    for ep in metadata.entry_points(group=group):
        try:
            yield ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the others
            warnings.warn(f"{what} '{ep.name}' ({ep.value}) cannot be loaded: {exc}", stacklevel=3)
