"""The editor registry: names, aliases and presets, found through entry points, importing an editor on first use.

Editors are declared like any plugin, in the entry-point group `knowledge_edit_bench.editors` (name ->
"module:Class"; the built-in ones in this project's pyproject.toml). Aliases, presets and the listing order come
from light "catalogue" modules declared in the group `knowledge_edit_bench.catalogues` (the built-in one is
`editors/catalogue.py`): module attributes ORDER (names, the order of `bench list editors`), ALIASES
(alias -> name), PRESETS (preset -> (name, {argument: value})) and DESCRIPTIONS (name -> (kind, one line) for
`bench list editors`; kind: weights, memory, prompt, trained or reference), all optional. So naming, listing and
checking editors imports no editor (`bench list editors` stays instant); a class is imported when it is used.
`--editors package.module:Class` runs a class registered nowhere (see `canonical_name`).
See docs/architecture.md.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import MISSING, dataclass, field, fields
from importlib import metadata

from bench.arguments import allowed, check_config, check_layers, help_of, rule_of, type_name
from bench.entry_points import plugin_modules
from bench.errors import BenchError, did_you_mean

EDITOR_GROUP = "knowledge_edit_bench.editors"
CATALOGUE_GROUP = "knowledge_edit_bench.catalogues"

# Classes named as module:Class on the command line (label -> spec), registered by canonical_name for this process.
_DIRECT: dict[str, str] = {}


@dataclass(frozen=True)
class Catalogue:
    editors: dict[str, str]  # name -> "module:Class", in listing order
    presets: dict[str, tuple[str, dict[str, str]]]
    aliases: dict[str, str]
    descriptions: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (kind, one line)


@functools.cache
def catalogue() -> Catalogue:
    """Every registered editor, alias and preset (read once per process; `clear_cache()` reads again)."""
    specs: dict[str, str] = {}
    for ep in metadata.entry_points(group=EDITOR_GROUP):
        specs.setdefault(ep.name.strip().lower(), ep.value.strip())
    order: list[str] = []
    presets: dict[str, tuple[str, dict[str, str]]] = {}
    aliases: dict[str, str] = {}
    descriptions: dict[str, tuple[str, str]] = {}
    for module in plugin_modules(CATALOGUE_GROUP, "editor catalogue"):
        order += [n for n in getattr(module, "ORDER", ()) if n in specs and n not in order]
        presets.update(getattr(module, "PRESETS", {}))
        aliases.update(getattr(module, "ALIASES", {}))
        descriptions.update(getattr(module, "DESCRIPTIONS", {}))
    order += sorted(n for n in specs if n not in order)  # editors no catalogue orders: by name
    return Catalogue({n: specs[n] for n in order}, presets, aliases, descriptions)


def clear_cache() -> None:
    """Forget what was read from the entry points (after installing a plugin in a running process)."""
    catalogue.cache_clear()
    _DIRECT.clear()


def __getattr__(name: str):
    """EDITORS, PRESETS and ALIASES, as they were module constants (read from the entry points on first use)."""
    if name in ("EDITORS", "PRESETS", "ALIASES"):
        return getattr(catalogue(), name.lower())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def canonical_name(name: str) -> str:
    """The label an editor runs under: a registered name, a preset, the target of an alias, or, for
    'package.module:Class', the class's own `name` if it sets one, else 'class' (lowercase), registered for
    this process so --editor-args and get_editor_class find it."""
    if ":" in name:
        return _register_direct(name.strip())
    cat = catalogue()
    key = name.strip().lower()
    key = cat.aliases.get(key, key)
    if key not in cat.editors and key not in cat.presets and key not in _DIRECT:
        hint = did_you_mean(key, [*cat.editors, *cat.presets, *cat.aliases], shown=lambda k: cat.aliases.get(k, k))
        raise BenchError(f"unknown editor '{name}'.{hint} Known editors: {', '.join(cat.editors)}; "
                         f"presets: {', '.join(cat.presets)}.")
    return key


def _register_direct(spec: str) -> str:
    cls = _load(spec, spec)
    own = cls.__dict__.get("name") or ""
    label = (own or spec.rpartition(":")[2]).strip().lower()
    cat = catalogue()
    if label in cat.editors and _load(cat.editors[label], label) is cls:
        return label  # the registered class itself
    taken = _DIRECT.get(label)
    if label in cat.editors or label in cat.presets or label in cat.aliases or taken and _load(taken, label) is not cls:
        raise BenchError(f"editor class '{spec}' is named '{label}', which is a registered editor, preset or alias or "
                         f"another class; give the class another `name`.")
    _DIRECT.setdefault(label, spec)
    return label


def _load(spec: str, key: str):
    module_name, sep, cls_name = spec.partition(":")
    if not sep or not module_name or not cls_name:
        raise BenchError(f"editor '{key}': '{spec}' is not of the form 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name.startswith(module_name) or module_name.startswith(exc.name + ".")):
            raise BenchError(f"editor '{spec}': there is no module '{module_name}'") from exc
        raise
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise BenchError(f"editor '{key}': module '{module_name}' has no class '{cls_name}'")
    _check_editor_class(cls, spec)
    return cls


def _check_editor_class(cls, spec: str) -> None:
    """A loaded object must be an `Editor` subclass: anything else would fail later, deep in a run."""
    from bench.editor import Editor  # torch; only once a class is loaded, which imports an editor anyway

    if isinstance(cls, type) and issubclass(cls, Editor):
        return
    what = f"the class {cls.__module__}.{cls.__qualname__}" if isinstance(cls, type) else f"a {type(cls).__name__}"
    raise BenchError(f"editor '{spec}' is {what}, not an editor: an editor class subclasses bench.editor.Editor "
                     f"and sets name, capabilities and config_class (docs/architecture.md); the registered editors are "
                     f"listed by `python -m bench list editors`.")


def get_editor_class(name: str):
    key = canonical_name(name)
    cat = catalogue()
    key = cat.presets[key][0] if key in cat.presets else key
    return _load(_DIRECT.get(key) or cat.editors[key], key)


def editor_group(name: str) -> str:
    """A table's row group for an editor label, from its class's capabilities: 'reference' (the unedited model),
    'M' (modifies the model's parameters) or 'P' (preserves them); 'other' for a label no installed editor has
    (a run made with a plugin that is not installed here)."""
    try:
        caps = get_editor_class(name).capabilities
    except BenchError:
        return "other"
    return "reference" if caps.reference else "M" if caps.changes_weights else "P"


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
    traceback (or a silently ignored setting) minutes into a run; see bench/arguments.py."""
    cat = catalogue()
    label = preset if preset in cat.editors or preset in cat.presets or preset in _DIRECT else editor_cls.name
    args = {**cat.presets.get(preset or "", ("", {}))[1], **args}
    cfg_cls = editor_cls.config_class
    by_name = {f.name: f for f in fields(cfg_cls)}
    values = {}
    for key, raw in args.items():
        if key not in by_name:
            hint = did_you_mean(key, by_name)
            raise BenchError(
                f"editor '{label}' has no argument '{key}'.{hint} Its arguments are: "
                f"{', '.join(by_name) or '(none)'} (`python -m bench list args {label}` describes them)."
            )
        values[key] = _coerce(raw, by_name[key], label)
    config = cfg_cls(**values)
    check_config(label, config)
    if callable(getattr(config, "validate", None)):  # cross-field checks of a config class
        config.validate()
    return config


@dataclass(frozen=True)
class EditorArg:
    """One hyper-parameter of an editor, as `bench list args EDITOR` shows it."""

    name: str
    type: str  # the annotation: 'float', 'list[int] | None'
    default: object  # the config's default, or the preset's value (as given there, text)
    allowed: str  # in words, from the field's Rule: 'a finite number greater than 0'
    help: str  # one line of meaning

    @property
    def shown_default(self) -> str:
        """The default as --editor-args takes it: 'true', '3,4', '' for an empty list or text."""
        value = self.default
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (list, tuple)):
            return ",".join(map(str, value))
        return str(value)


def editor_args(name: str) -> list[EditorArg]:
    """Every hyper-parameter of editor `name` (a registered name, alias or preset) with its default, what it
    accepts and what it means, read from the editor's config dataclass (nothing is loaded but the class)."""
    key = canonical_name(name)
    cfg_cls = get_editor_class(key).config_class
    preset = catalogue().presets.get(key, ("", {}))[1]
    out = []
    for f in fields(cfg_cls):
        default = f.default_factory() if f.default is MISSING and f.default_factory is not MISSING else f.default
        out.append(EditorArg(f.name, type_name(f), preset.get(f.name, default), allowed(f), help_of(f)))
    return out


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
    kind = type_name(f)
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
