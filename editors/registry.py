"""Lazy registry of editors: names and aliases map to "module:Class" and import on first use."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import fields

from bench.errors import BenchError
from editors.arguments import check_config, check_layers, rule_of

EDITORS: dict[str, str] = {
    "noedit": "editors.noedit:NoEdit",
    "ft-l": "editors.ft:FTL",
    "ft-m": "editors.ft:FTM",
    "ike": "editors.ike:IKE",
    "instructed": "editors.instructed:InstructEd",
    "rome": "editors.rome:ROME",
    "memit": "editors.memit:MEMIT",
    "pmet": "editors.pmet:PMET",
    "lora": "editors.lora:LoRA",
    "serac": "editors.serac:SERAC",
    "grace": "editors.grace:GRACE",
    "mello": "editors.mello:MeLLo",
}
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


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in EDITORS and key not in PRESETS:
        close = difflib.get_close_matches(key, list(EDITORS) + list(PRESETS) + list(ALIASES), n=1)
        hint = f" Did you mean '{ALIASES.get(close[0], close[0])}'?" if close else ""
        raise BenchError(f"unknown editor '{name}'.{hint} Known editors: {', '.join(EDITORS)}; "
                         f"presets: {', '.join(PRESETS)}.")
    return key


def get_editor_class(name: str):
    key = canonical_name(name)
    key = PRESETS[key][0] if key in PRESETS else key
    module_name, cls_name = EDITORS[key].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(module_name):
            raise BenchError(f"editor '{key}' is registered but not implemented in this version") from exc
        raise
    return getattr(module, cls_name)


def parse_editor_args(spec: str | None) -> dict[str, dict[str, str]]:
    """'rome:layers=5;instructed:mode=retrieval' -> {'rome': {'layers': '5'}, ...}.

    A comma starts a new key=value unless the text after it has no '=': then it continues the
    value before it (a list, layers=3,4,5), in the same entry only. A key given twice keeps the later
    value. Malformed text is a BenchError."""
    out: dict[str, dict[str, str]] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(";"))):
        if ":" not in part or "=" not in part:
            raise BenchError(f"--editor-args entry '{part}' is not of the form 'editor:key=value[,key=value]'")
        editor, assignments = part.split(":", 1)
        editor = canonical_name(editor)
        _parse_assignments(editor, assignments, out.setdefault(editor, {}))
    return out


def _parse_assignments(editor: str, assignments: str, into: dict[str, str]) -> None:
    """Fill `into` from 'k=v,k2=v2,...' of one entry for `editor`."""
    last = None
    for assignment in assignments.split(","):
        if "=" not in assignment:
            if last is None:
                raise BenchError(f"--editor-args: '{assignment}' of editor '{editor}' has no key (expected key=value)")
            into[last] += "," + assignment.strip()
            continue
        key, value = (x.strip() for x in assignment.split("=", 1))
        if not key:
            raise BenchError(f"--editor-args: '{assignment}' of editor '{editor}' has no key (expected key=value)")
        into[key], last = value, key  # a key given again wins (the suite appends the command line's)


def build_config(editor_cls, args: dict[str, str], preset: str | None = None):
    """Coerce string arguments (over a preset's, if any) into the editor's typed config dataclass, range-checked.

    Checking here, before any model is loaded, turns a bad value into one message instead of a
    traceback (or a silently ignored setting) minutes into a run; see editors/arguments.py."""
    label = preset if preset in EDITORS or preset in PRESETS else editor_cls.name
    args = {**PRESETS.get(preset or "", ("", {}))[1], **args}
    cfg_cls = editor_cls.config_class
    by_name = {f.name: f for f in fields(cfg_cls)}
    values = {}
    for key, raw in args.items():
        if key not in by_name:
            raise BenchError(
                f"editor '{label}' has no argument '{key}'; its arguments are: "
                f"{', '.join(by_name) or '(none)'}"
            )
        values[key] = _coerce(raw, by_name[key], label)
    config = cfg_cls(**values)
    check_config(label, config)
    if callable(getattr(config, "validate", None)):  # cross-field checks of a config class
        config.validate()
    return config


def check_config_for_model(name: str, config, lm) -> None:
    """The checks that need the loaded model: layers within its depth, parts it has, readable hyper-parameters.

    Call after `check_supported`, before the editor is built, so a bad layer fails with a message
    rather than a KeyError inside the first edit. A config class may add a `check_model(editor, lm,
    editor_cls)` method for checks of its own."""
    from bench.arch import num_layers  # torch; the registry itself stays light for `bench list`

    label = canonical_name(name)
    check_layers(label, config, num_layers(lm.model), str(lm.name))
    hook = getattr(config, "check_model", None)
    if callable(hook):
        hook(label, lm, get_editor_class(label))


def _coerce(raw: str, f, editor: str):
    """Types come from the field's annotation: bool, int, float, str, or a list of ints ('3,4,5' or '10:20')."""
    kind = f.type if isinstance(f.type, str) else f.type.__name__ if isinstance(f.type, type) else str(f.type)
    try:
        if kind.startswith("bool"):
            if raw.lower() not in _BOOLS:
                raise ValueError(raw)
            return _BOOLS[raw.lower()]
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith(("list[int]", "tuple[int")):
            return _int_list(raw, f, editor)
        if kind.startswith(("list", "tuple")):
            return [x for x in raw.split(",") if x]
    except ValueError as exc:
        raise BenchError(f"editor '{editor}': argument {f.name}={raw[:80]!r} is not a valid {kind}") from exc
    return raw


def _int_list(raw: str, f, editor: str) -> list[int]:
    """'3,4,5' or the range '10:20' (10 to 19), refused before it is built when longer than the field allows."""
    if ":" in raw:
        lo, hi = (int(x) for x in raw.split(":"))
        count, items = max(0, hi - lo), range(lo, hi)  # len(range) overflows past sys.maxsize
    else:
        items = [int(x) for x in raw.split(",") if x]
        count = len(items)
    limit = rule_of(f).max_items
    if count > limit:
        raise BenchError(f"editor '{editor}': argument {f.name}={raw[:80]!r} has {count} items; "
                         f"it needs at most {limit} item(s).")
    return list(items)


_BOOLS = {"true": True, "1": True, "on": True, "yes": True, "false": False, "0": False, "off": False, "no": False}
