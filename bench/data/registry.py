"""Known datasets, where their files live, and the user-facing errors for finding them.

A spec is a dataset name (`counterfact`) or `NAME:PATH` where NAME is a dataset
or format name that picks the parser for an arbitrary file.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.errors import BenchError, did_you_mean

ENV_VAR = "BENCH_DATA_DIR"
DEFAULT_DATA_DIR = Path("..") / "shared" / "data"

_INSTRUCTED = "github.com/sev777/InstructED data/portability/"
_KSPREAD = "github.com/Jometeorie/KnowledgeSpread data/"

# Parser formats (what the records look like, independent of which file they come from) are entry points of this
# group: name -> "module:function", a function (Record, Origin) -> EditCase; the built-in ones (rome, easyedit,
# mend, mquake) are declared in pyproject.toml, a plugin distribution declares its own the same way.
FORMAT_GROUP = "knowledge_edit_bench.formats"


@functools.cache
def formats() -> dict[str, str]:
    """Every registered format: name -> "module:function" (read once per process; nothing is imported)."""
    found: dict[str, str] = {}
    for ep in metadata.entry_points(group=FORMAT_GROUP):
        found.setdefault(ep.name.strip(), ep.value.strip())
    return found


def __getattr__(name: str):
    if name == "FORMATS":  # the formats table, as it was a module constant
        return formats()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class DatasetInfo:
    """A named dataset: its parser format and its file relative to the data dir."""

    name: str
    format: str
    relative_path: str
    description: str
    source: str
    # 'train' / 'test': one side of bench.data.splits' deterministic split; 'without:NAME': the cases whose
    # rewrites dataset NAME does not contain (what a trained editor never saw)
    split: str | None = None


_ONE_HOP = _INSTRUCTED + "One_Hop/ (Yao et al. 2023, EasyEdit portability)"
_SUBJECT_REPLACE = _INSTRUCTED + "Subject Replace/"
_MQUAKE_SOURCE = (
    "github.com/BobXWu/AKEW datasets/MQuAKE-CF.json (renamed); the official MQuAKE-CF-3k / MQuAKE-T files "
    "come from github.com/princeton-nlp/MQuAKE datasets/ (MIT) and load with mquake:PATH"
)

# fmt: off
_TABLE = [
    # name, format, path relative to the data dir, description, source
    ("counterfact", "rome", "counterfact/counterfact_portability_gpt4.json",
     "CounterFact test cases with one-hop portability (1,031)", _ONE_HOP),
    ("counterfact-edit", "easyedit", "counterfact/counterfact-edit.json",
     "CounterFact EasyEdit edit/test split (10,000)", _KSPREAD + "counterfact/"),
    ("counterfact-train", "easyedit", "counterfact/counterfact-train.json",
     "CounterFact EasyEdit training split (10,000)", _KSPREAD + "counterfact/"),
    ("counterfact-val", "easyedit", "counterfact/counterfact-val.json",
     "CounterFact EasyEdit validation split (1,919)", _KSPREAD + "counterfact/"),
    ("zsre", "mend", "zsre/zsre_mend_eval_portability_gpt4.json",
     "zsRE test set with one-hop portability (1,037)", _ONE_HOP),
    ("zsre-train", "mend", "zsre/zsre_mend_train-1k.json",
     "zsRE MEND training subset (1,000)", _KSPREAD + "zsre/"),
    ("counterfact-subject-replace", "rome", "portability/subject_replace/counterfact_subject_replace.json",
     "CounterFact portability, Subject Replace (213)", _SUBJECT_REPLACE),
    ("counterfact-subject-replace-test", "rome", "portability/subject_replace/counterfact_subject_replace.json",
     "CounterFact Subject Replace without the 48 rewrites of counterfact-train (165; for trained editors)",
     _SUBJECT_REPLACE, "without:counterfact-train"),
    ("zsre-subject-replace", "mend", "portability/subject_replace/zsre_subject_replace.json",
     "zsRE portability, Subject Replace (293)", _SUBJECT_REPLACE),
    ("zsre-inverse", "mend", "portability/inverse_relation/zsre_inverse_relation.json",
     "zsRE portability, Inverse Relation (385)", _INSTRUCTED + "Inverse Relation/"),
    ("mquake", "mquake", "mquake/subsets/MQuAKE-CF-3k-subset354_akew.json",
     "MQuAKE-CF-3k subset in the official MQuAKE schema (354)", _MQUAKE_SOURCE),
    ("mquake-train", "mquake", "mquake/subsets/MQuAKE-CF-3k-subset354_akew.json",
     "train side of the MQuAKE subset (what InstructEd trains on)", _MQUAKE_SOURCE, "train"),
    ("mquake-test", "mquake", "mquake/subsets/MQuAKE-CF-3k-subset354_akew.json",
     "test side of the MQuAKE subset (cases InstructEd never saw)", _MQUAKE_SOURCE, "test"),
]
# fmt: on
DATASETS: dict[str, DatasetInfo] = {row[0]: DatasetInfo(*row) for row in _TABLE}


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data dir: the argument, else $BENCH_DATA_DIR, else ../shared/data (returned even if absent)."""
    chosen = data_dir or os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().resolve()


def format_of(name: str) -> str:
    """The parser format for a dataset or format name; unknown names get a 'did you mean'."""
    if name in DATASETS:
        return DATASETS[name].format
    if name in formats():
        return name
    raise unknown_name_error(name)


def unknown_name_error(name: str) -> BenchError:
    known = [*DATASETS, *formats()]
    hint = did_you_mean(name, known, cutoff=0.5)
    if not hint and ("/" in name or name.endswith((".json", ".jsonl"))):
        hint = " For a file, use NAME:PATH, e.g. mquake:/path/to/MQuAKE-CF-3k.json."
    return BenchError(
        f"Unknown dataset '{name}'.{hint} Known datasets: {', '.join(DATASETS)}; "
        f"formats for NAME:PATH: {', '.join(formats())}."
    )


def missing_file_error(info: DatasetInfo, data_dir: Path) -> BenchError:
    path, readme = data_dir / info.relative_path, data_dir / "README.md"
    where = "" if data_dir.is_dir() else f" (the data dir {data_dir} does not exist)"
    sources = f"; sources are listed in {readme}" if readme.is_file() else ""
    return BenchError(
        f"Dataset '{info.name}' not found: expected {path}{where}. It comes from {info.source}{sources}. "
        f"Point the harness at the data dir with --data-dir DIR or the {ENV_VAR} environment variable."
    )
