from importlib import metadata

import pytest

from bench import entry_points


def test_a_broken_plugin_is_skipped_with_a_warning_naming_it(monkeypatch):
    good = metadata.EntryPoint("good", "json", "knowledge_edit_bench.suites")
    broken = metadata.EntryPoint("broken", "no_such_module_here", "knowledge_edit_bench.suites")
    monkeypatch.setattr(entry_points.metadata, "entry_points", lambda group: [broken, good])
    with pytest.warns(UserWarning, match=r"suite module 'broken' \(no_such_module_here\) cannot be loaded"):
        loaded = list(entry_points.plugin_modules("knowledge_edit_bench.suites", "suite module"))
    assert [m.__name__ for m in loaded] == ["json"]
