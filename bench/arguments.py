"""Declared ranges of editor arguments, checked once where they are parsed (registry.build_config).

A config field states what it accepts in its metadata, `lr: float = arg(5e-4, above=0)`, so
the rule sits beside the default it constrains and one checker serves every editor. A bad
value then stops a run before any model is loaded, in one paragraph that names editor,
argument and allowed range, instead of a traceback (or a silent no-op) minutes later.
Layer indices depend on the model and are checked by `check_layers` once it is loaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bench.errors import BenchError

MAX_STEPS = 100_000  # optimisation steps of one edit: more is a typo, not a setting
MAX_COUNT = 1_000_000  # demonstrations, prefixes, chunk sizes, tokens
MAX_SAMPLES = 100_000_000  # token vectors of the key statistics
MAX_ITEMS = 1024  # items of a list argument (a layer range 'lo:hi' included)
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_FILE_BYTES = 16 * 2**20  # a hyper-parameter or prompt file


@dataclass(frozen=True)
class Rule:
    """What one editor argument accepts; a list argument applies it to every item."""

    lo: float | None = None  # smallest allowed value
    hi: float | None = None  # largest allowed value
    above: float | None = None  # the value must be greater than this (learning rates: 0)
    below: float | None = None  # the value must be less than this (dropout: 1)
    choices: tuple[str, ...] = ()  # allowed strings
    sep: str = ""  # the string is a `sep`-separated list of choices ('q,v'); at least one
    head: str = ""  # compare only the text before this character with the choices ('prompts:SPEC')
    special: tuple = ()  # values outside the range with a meaning of their own (-1: the scaled default)
    layer: bool = False  # a layer index (or indices): must exist in the model
    min_items: int = 0
    max_items: int = MAX_ITEMS
    file: str = ""  # 'json': a readable file holding a JSON object; 'text': a readable file;
    # 'hparams': a JSON object, or the YAML mapping of a .yaml/.yml file (EasyEdit's format; editors/locate/easyedit.py)
    note: str = ""  # what the special values mean, for the error message


def arg(default: Any = MISSING, *, factory: Any = MISSING, help: str = "", **rule: Any):  # noqa: A002
    """A dataclass field with its Rule and its one line of meaning in the metadata (`arg(8, lo=0, help="...")`,
    `arg(factory=list, layer=True, help="...")`); `bench list args EDITOR` shows both."""
    return field(default=default, default_factory=factory, metadata={"rule": Rule(**rule), "help": help})


def rule_of(f) -> Rule:
    return f.metadata.get("rule") or Rule()


def help_of(f) -> str:
    """A config field's one line of meaning ('' when its editor gives none)."""
    return f.metadata.get("help", "")


def allowed(f) -> str:
    """What a config field accepts, in words, from its type and Rule: 'an integer from 1 to 100000', 'one of
    gold, retrieval', 'true or false', 'layer indices of the model (at least 0)'."""
    rule, kind = rule_of(f), type_name(f)
    if kind.startswith("bool"):
        text = "true or false"
    elif rule.choices:
        text = (f"a '{rule.sep}'-separated list of" if rule.sep else "one of") + " " + ", ".join(rule.choices)
    elif rule.file:
        text = {"json": "a JSON file", "text": "a text file",
                "hparams": "a JSON file or an EasyEdit .yaml/.yml file"}[rule.file]
    elif kind.startswith(("list[int]", "tuple[int")):
        text = ("layers of the model" if rule.layer else "integers") + " as 3,4,5 or lo:hi"
        text += f" ({_count_range(rule)})" if rule.min_items or rule.max_items != MAX_ITEMS else ""
        text += f", each {describe(replace(rule, note=''), 0)}" if _has_range(rule) else ""
    elif kind.startswith(("int", "float")):
        text = describe(replace(rule, note=""), 0 if kind.startswith("int") else 0.0)
        text += " (a layer of the model)" if rule.layer else ""
    else:
        text = "text"
    specials = ", ".join(repr(s) for s in rule.special)
    text += f"; or {specials}" if specials and not rule.note else ""
    return f"{text} ({rule.note})" if rule.note else text


def type_name(f) -> str:
    """The field's annotation as written ('list[int] | None')."""
    return f.type if isinstance(f.type, str) else f.type.__name__ if isinstance(f.type, type) else str(f.type)


def _has_range(rule: Rule) -> bool:
    return any(x is not None for x in (rule.lo, rule.hi, rule.above, rule.below))


def check_config(editor: str, config) -> None:
    """Raise BenchError for the first argument of `config` outside its declared range."""
    for f in fields(config):
        check_value(editor, f.name, getattr(config, f.name), rule_of(f))


def check_value(editor: str, name: str, value: Any, rule: Rule) -> None:
    if value is None or isinstance(value, bool) or _is_special(value, rule):
        return
    if isinstance(value, (list, tuple)):
        if not rule.min_items <= len(value) <= rule.max_items:
            raise BenchError(f"editor '{editor}': argument {name}={_show(value)} has {len(value)} items; it needs "
                             f"{_count_range(rule)} item(s).")
        for item in value:
            _check_scalar(editor, name, item, rule, whole=value)
        return
    _check_scalar(editor, name, value, rule, whole=value)


def _count_range(rule: Rule) -> str:
    if rule.min_items == rule.max_items:
        return f"exactly {rule.min_items}"
    return f"at least {rule.min_items} and at most {rule.max_items}" if rule.min_items else f"at most {rule.max_items}"


def _is_special(value: Any, rule: Rule) -> bool:
    return any(type(value) is type(s) and value == s for s in rule.special)


def _check_scalar(editor: str, name: str, value: Any, rule: Rule, whole: Any) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if not _in_range(value, rule):
            raise BenchError(f"editor '{editor}': argument {name}={_show(whole)} is out of range; "
                             f"{'each item' if whole is not value else 'it'} must be {describe(rule, value)}.")
    elif isinstance(value, str):
        _check_text(editor, name, value, rule)


def _in_range(value: float, rule: Rule) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return not ((rule.lo is not None and value < rule.lo) or (rule.hi is not None and value > rule.hi)
                or (rule.above is not None and value <= rule.above)
                or (rule.below is not None and value >= rule.below))


def describe(rule: Rule, value: Any = 0.0) -> str:
    """The allowed range in words: 'an integer from 1 to 100000', 'a finite number greater than 0'."""
    kind = "an integer" if isinstance(value, int) else "a finite number"
    parts = []
    if rule.lo is not None and rule.hi is not None:
        parts.append(f"from {_num(rule.lo)} to {_num(rule.hi)}")
    elif rule.lo is not None:
        parts.append(f"at least {_num(rule.lo)}")
    elif rule.hi is not None:
        parts.append(f"at most {_num(rule.hi)}")
    if rule.above is not None:
        parts.append(f"greater than {_num(rule.above)}")
    if rule.below is not None:
        parts.append(f"less than {_num(rule.below)}")
    text = " ".join([kind, " and ".join(parts)]).strip()
    return f"{text} ({rule.note})" if rule.note else text


def _show(value: Any) -> str:
    """The value as typed, cut short: a fuzzed or mistyped argument can be thousands of characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _check_text(editor: str, name: str, value: str, rule: Rule) -> None:
    if rule.choices:
        items = [p.strip() for p in value.split(rule.sep)] if rule.sep else [value]
        items = [p.partition(rule.head)[0] if rule.head else p for p in items]
        bad = [p for p in items if p not in rule.choices]
        if bad:
            what = f"a '{rule.sep}'-separated list of" if rule.sep else "one of"
            extra = f" ({rule.note})" if rule.note else ""
            raise BenchError(f"editor '{editor}': argument {name}={_show(value)} is not {what} "
                             f"{', '.join(rule.choices)}{extra}.")
    if rule.file == "json":
        read_json_object(editor, name, value)
    elif rule.file == "hparams":
        read_hparams_object(editor, name, value)
    elif rule.file == "text":
        read_text(editor, name, value)


def read_text(editor: str, name: str, value: str) -> str:
    """The text of regular file `value` (not a device or pipe that never ends), or a BenchError naming it."""
    try:
        path = Path(value).expanduser()
        if not path.is_file():
            raise FileNotFoundError(2, "no such regular file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise OSError(27, f"larger than {MAX_FILE_BYTES} bytes")
        return path.read_text()
    except (OSError, ValueError, RuntimeError) as exc:  # unreadable, not UTF-8, a NUL in the name, '~nobody'
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise BenchError(f"editor '{editor}': argument {name}={_show(value)}: cannot read the file ({reason}); "
                         f"give the path of a readable file.") from exc


def read_json_object(editor: str, name: str, value: str) -> dict:
    """The JSON object in file `value`, or a BenchError naming editor, argument and file."""
    text = read_text(editor, name, value)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})" if isinstance(exc, json.JSONDecodeError) else ""
        raise BenchError(f"editor '{editor}': argument {name}={_show(value)}: the file is not valid "
                         f"JSON{where}.") from exc
    if not isinstance(data, dict):
        raise BenchError(f"editor '{editor}': argument {name}={_show(value)}: the file holds a JSON "
                         f"{type(data).__name__}, not an object of hyper-parameters.")
    return data


YAML_SUFFIXES = (".yaml", ".yml")


def is_yaml_path(value: str) -> bool:
    return Path(value).suffix.lower() in YAML_SUFFIXES


def read_hparams_object(editor: str, name: str, value: str) -> dict:
    """A hyper-parameter file: the YAML mapping of a .yaml/.yml file, else the JSON object of the file."""
    return read_yaml_object(editor, name, value) if is_yaml_path(value) else read_json_object(editor, name, value)


def read_yaml_object(editor: str, name: str, value: str) -> dict:
    """The YAML mapping in file `value` (yaml.safe_load), or a BenchError naming editor, argument and file.

    Aliases (`*name`) are refused: hyper-parameter files do not need them, and a few nested ones
    expand to a structure too large to print or check (the 'billion laughs')."""
    import yaml  # PyYAML; imported here so the registry stays light

    text = read_text(editor, name, value)
    head = f"editor '{editor}': argument {name}={_show(value)}: "
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise BenchError(f"{head}the file uses YAML aliases (*name); write the values out.")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        where = ""
        if mark is not None and problem:
            where = f" (line {mark.line + 1}, column {mark.column + 1}: {' '.join(problem.split())})"
        raise BenchError(f"{head}the file is not valid YAML{where}.") from exc
    except RecursionError as exc:
        raise BenchError(f"{head}the file is not valid YAML (nested too deeply).") from exc
    if not isinstance(data, dict):
        what = "no YAML document" if data is None else f"a YAML {type(data).__name__}"
        raise BenchError(f"{head}the file holds {what}, not a mapping of hyper-parameters.")
    return data


def check_layers(editor: str, config, depth: int, model: str) -> None:
    """Raise BenchError for a layer argument naming a layer this `depth`-layer model lacks."""
    for f in fields(config):
        rule, value = rule_of(f), getattr(config, f.name)
        if not rule.layer or value is None or _is_special(value, rule):
            continue
        for layer in value if isinstance(value, (list, tuple)) else [value]:
            if not 0 <= layer < depth:
                raise BenchError(f"editor '{editor}': argument {f.name}={_show(value)} names layer {layer}, but "
                                 f"model '{model}' has {depth} layers; use layers 0 to {depth - 1}.")
