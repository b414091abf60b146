"""Plugins: an editor (with its preset and alias) and a dataset format from another distribution, found through
entry points; and an editor class registered nowhere, named on the command line as module:Class."""

import csv
import json
import sys
import textwrap

import pytest

import bench.data.registry as data_registry
import bench.registry as registry
from bench.cli import main
from bench.errors import BenchError
from bench.report import report
from tests.test_runner import _record

PLUGIN = '''
from dataclasses import dataclass

from bench.data.counterfact import parse_rome
from bench.editor import Capabilities, Editor, EditorConfig


@dataclass
class MyConfig(EditorConfig):
    quiet: bool = False


class MyEditor(Editor):
    """A no-op editor from a plugin distribution."""

    name = "myedit"
    capabilities = Capabilities(changes_weights=False)
    config_class = MyConfig

    def edit(self, cases):
        self.edited = len(cases)

    def reset(self):
        self.edited = 0


class Unregistered(MyEditor):
    name = ""  # no name of its own: it runs as 'unregistered', the class name


class Impostor(MyEditor):
    name = "rome"


def parse_mine(rec, origin):
    """Format `mine`: ROME CounterFact records under another name."""
    return parse_rome(rec, origin)
'''

CATALOGUE = '''
ALIASES = {"me": "myedit"}
PRESETS = {"myedit-quiet": ("myedit", {"quiet": "true"})}
'''

ENTRY_POINTS = """
[knowledge_edit_bench.editors]
myedit = myplugin:MyEditor

[knowledge_edit_bench.catalogues]
myplugin = myplugin.catalogue

[knowledge_edit_bench.formats]
mine = myplugin:parse_mine
"""


def _clear():
    registry.clear_cache()
    data_registry.formats.cache_clear()


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A distribution `myplugin` 0.1 installed in tmp_path: its package and a real dist-info folder."""
    package = tmp_path / "site" / "myplugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    (package / "catalogue.py").write_text(textwrap.dedent(CATALOGUE))
    info = tmp_path / "site" / "myplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS.lstrip())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    _clear()
    yield tmp_path
    _clear()
    for name in [m for m in sys.modules if m == "myplugin" or m.startswith("myplugin.")]:
        del sys.modules[name]


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(3)]))
    return path


def _run(editors, dataset, out, *extra):
    return main(["run", "--editors", editors, "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(out), "--bootstrap", "20", *extra])


def _summary(out):
    with (out / "summary.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_a_plugin_editor_runs_by_its_entry_point_name(plugin, dataset, tmp_path):
    assert _run("myedit,noedit", f"counterfact:{dataset}", tmp_path / "run") == 0
    rows = _summary(tmp_path / "run")
    assert [r["editor"] for r in rows] == ["myedit", "noedit"]
    assert rows[0]["n_cases"] == "3" and float(rows[0]["Loc"]) == 100.0
    assert rows[0]["Rel"] == rows[1]["Rel"]  # a no-op edit scores as the unedited model


def test_a_plugin_editor_s_table_row_is_grouped_by_its_capabilities(plugin, dataset, tmp_path):
    assert _run("noedit,myedit,ft-m", f"counterfact:{dataset}", tmp_path / "run", "--limit", "1") == 0
    text = report([str(tmp_path / "run")], "markdown", table="table2")
    rows = [ln.split(" | ")[:2] for ln in text.splitlines() if ln.startswith("| ") and "Editor" not in ln][:3]
    assert rows == [["| reference", "noedit"], ["| M", "ft-m"], ["| P", "myedit"]]  # it preserves weights: P


def test_a_plugin_declares_aliases_presets_and_is_listed(plugin, capsys):
    assert registry.canonical_name("me") == "myedit"
    assert registry.canonical_name("myedit-quiet") == "myedit-quiet"
    assert registry.get_editor_class("myedit-quiet").__name__ == "MyEditor"
    assert registry.build_config(registry.get_editor_class("me"), {}, preset="myedit-quiet").quiet is True
    assert main(["list", "editors"]) == 0
    out = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:] if line.strip()}
    assert out["myedit"].endswith("A no-op editor from a plugin distribution. (aliases: me)")  # its docstring
    assert out["myedit-quiet"].endswith("preset: myedit with quiet=true")
    names = list(out)
    assert names[0] == "noedit" and names.index("myedit") == names.index("mello") + 1  # built-ins first, in order
    with pytest.raises(BenchError, match="Did you mean 'myedit'"):
        registry.canonical_name("myedt")


def test_an_unregistered_class_runs_as_module_colon_class(plugin, dataset, tmp_path):
    out = tmp_path / "run"
    assert _run("myplugin:Unregistered,myplugin:MyEditor", f"counterfact:{dataset}", out) == 0
    assert [r["editor"] for r in _summary(out)] == ["unregistered", "myedit"]
    config = json.loads((out / "config.json").read_text())
    assert set(config["editors"]) == {"unregistered", "myedit"}


def test_a_plugin_format_loads_name_colon_path(plugin, dataset, tmp_path):
    assert "mine" in data_registry.formats()
    assert _run("noedit", f"mine:{dataset}", tmp_path / "run") == 0
    assert _summary(tmp_path / "run")[0]["n_cases"] == "3"


def test_presets_and_builtins_still_resolve_without_plugins():
    _clear()
    assert registry.canonical_name("ftm") == "ft-m" and registry.canonical_name("instructed-late") == "instructed-late"
    assert registry.get_editor_class("instructed-late").__name__ == "InstructEd"


def test_bad_module_class_specs_are_one_line_errors(plugin):
    with pytest.raises(BenchError, match="no module 'nosuchplugin'"):
        registry.canonical_name("nosuchplugin:Editor")
    with pytest.raises(BenchError, match="has no class 'Nope'"):
        registry.canonical_name("bench.editor:Nope")
    with pytest.raises(BenchError, match="named 'rome', which is a registered editor"):
        registry.canonical_name("myplugin:Impostor")
    assert registry.canonical_name("editors.rome.rome:ROME") == "rome"  # the registered class itself
