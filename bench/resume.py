"""Whether a run may be resumed by this command: the options and settings that decide its rows, checked against
config.json (`check_resume`, `check_editor_resume`) or, when config.json is lost, against the record each unit's
mark row carries (`stamp`, `check_rows_for_resume`). Every refusal names what differs and what to do."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from bench.errors import BenchError

logger = logging.getLogger(__name__)

UNIT_ROWS = "unit_rows"  # on the last row of a unit: how many rows the unit has (its completion mark)
# Options a resumed run must share with the run directory: they decide which rows one `bench run` writes.
RESUME_OPTIONS = ("dataset", "model", "protocol", "seed", "limit", "batch_size", "num_edits", "eval_every",
                  "eval_points", "eval_sample", "eval_recent", "eval_panel", "scoring", "side_effects", "loc_unrelated",
                  "fluency_prompts")
# What a run written before an option existed did, as that option's value (teacher forcing only, no probes).
LEGACY_OPTIONS = {"scoring": "tf", "side_effects": False, "loc_unrelated": 0, "fluency_prompts": 0}
# ... and what decides the values in them (the device as resolved: `auto` and `cpu` on a CPU machine agree).
RESUME_SETTINGS = {"dtype": ("args", "dtype"), "encoder": ("args", "encoder"), "device": ("model", "device")}
WRITTEN_WITH = "written_with"  # on the same row: the RESUME_OPTIONS, RESUME_SETTINGS and the editor's digest

UNUSABLE_CONFIG_ADVICE = (
    "Restore it from a copy (for a committed run: git checkout -- that file), or rerun the command that made the "
    "run with --resume: the run is then resumed only if every row's own record (written_with) matches the command, "
    "and the file is kept beside it as config.json.unusable-DATE. Rows written before that record existed cannot "
    "be checked: for those, restore config.json or start a new --out.")


def stamp(args: dict, device: str | None, editor_config: dict) -> dict:
    """What a unit was written with (its mark row's `written_with`): the run's options and settings that decide
    the rows, and a digest of the editor's resolved configuration."""
    canonical = json.dumps(json.loads(json.dumps(editor_config, default=str)), sort_keys=True)
    out = {key: args.get(key) for key in RESUME_OPTIONS}
    out.update({name: args.get(key) for name, (section, key) in RESUME_SETTINGS.items() if section == "args"})
    out["device"] = device
    out["editor_config"] = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return out


def recorded_option(record: dict, key: str):
    """An option as a run's args or a row's record hold it; one they predate ran with its LEGACY_OPTIONS value."""
    return record.get(key, LEGACY_OPTIONS.get(key))


def check_rows_for_resume(out: Path, rows: list[dict], args: dict, unusable: str | None) -> dict[str, dict]:
    """A resume without a usable config.json: every row's `written_with` must match this command's options, and
    every editor with rows must be named (its configuration is checked once its model is loaded). Returns
    editor -> its rows' record."""
    what = unusable or f"{out / 'config.json'} is missing"
    marks = [r for r in rows if UNIT_ROWS in r]
    if not marks or any(WRITTEN_WITH not in r for r in marks):
        raise BenchError(f"--resume: {what}, and the rows in {out / 'cases.jsonl'} were written before rows recorded "
                         f"their options, so this command cannot be checked against them. {UNUSABLE_CONFIG_ADVICE}")
    now = stamp(args, None, {})
    stamps: dict[str, dict] = {}
    for row in marks:
        record = row[WRITTEN_WITH]
        for key, value in now.items():
            before = recorded_option(record, key)
            if key not in ("device", "editor_config") and before != value:
                raise BenchError(f"--resume: {what}, and the rows of {out} were written with "
                                 f"{key}={before!r}; this command has {key}={value!r}. Resume with the same "
                                 "options or use a new --out.")
        if stamps.setdefault(row["editor"], record)["editor_config"] != record["editor_config"]:
            raise BenchError(f"--resume: {what}, and the rows of editor {row['editor']} in {out} were written with two "
                             "configurations; this run cannot be resumed. Start a new --out.")
    missing = sorted(set(stamps) - set(args.get("editors") or []))
    if missing:
        raise BenchError(f"--resume: {what}, and {out} holds rows of editor(s) {', '.join(missing)} that this command "
                         "does not name, so their configuration cannot be checked. Name them in --editors (with the "
                         "same --editor-args), or restore config.json.")
    return stamps


def warn_if_environment_changed(path: Path, previous: dict, config: dict) -> None:
    """A resume on another machine or library version is allowed (runs are continued where CPU time is), but
    said: the rows of both starts share one summary, and floats may round differently between them."""
    before, now = previous.get("versions") or {}, config.get("versions") or {}
    changed = [f"{key} {value!r} -> {now.get(key)!r}" for key, value in sorted(before.items()) if value != now.get(key)]
    if changed:
        logger.warning("%s: resumed in another environment than its last start (%s); the rows written so far are "
                       "kept, and config.json's previous_starts records each start's. Floats can round differently "
                       "between machines, so an optimising editor's rows may differ from one environment's.",
                       path, "; ".join(changed))


def check_resume(path: Path, previous: dict, config: dict, loaded: bool = True) -> None:
    """Refuse to resume with any option or setting that changes the rows, naming it; `loaded=False`: before the
    model is loaded, the settings known then (not the device)."""
    for key in RESUME_OPTIONS:
        before = recorded_option(previous.get("args") or {}, key)
        after = recorded_option(config["args"], key)  # a config of that age rewritten (bench merge)
        if before != after:
            flag = "--" + key.replace("_", "-")
            raise BenchError(
                f"--resume: {path} was written with {key}={before!r}, this command "
                f"has {key}={after!r}. Resume with the same options (here {flag} {before}) or use "
                "a new --out."
            )
    for name, (section, key) in RESUME_SETTINGS.items():
        if not loaded and section != "args":
            continue
        before, now = (previous.get(section) or {}).get(key), (config.get(section) or {}).get(key)
        if before is not None and before != now:
            raise BenchError(
                f"--resume: {path} was written with {name} {before!r}, this command runs with {now!r}; rows of "
                f"both would be mixed in one summary. Resume with --{name} {before} or use a new --out."
            )


def check_editor_resume(path: Path, name: str, previous: dict | None, resolved: dict,
                        given: dict | None = None, unrecorded: dict | None = None) -> None:
    """An editor resumed into a run must have the resolved configuration (every config field) it ran with.
    `given`: the configuration before it was resolved on the model; a field recorded as given, from a version
    that did not yet record its resolved value (FT's `layers: []`), is the same setting. `unrecorded`: fields the
    record lacks, with the values its start ran with (`EditorConfig.unrecorded`)."""
    if not previous or "config" not in previous:
        return
    before = {**(unrecorded or {}), **previous["config"]}
    now = json.loads(json.dumps(resolved, default=str))
    given = json.loads(json.dumps(given, default=str)) if given is not None else {}
    differ = sorted(k for k in now if k in before and before[k] != now[k]
                    and not (k in given and before[k] == given[k]))
    if differ:
        detail = ", ".join(f"{k}={before[k]!r} (now {now[k]!r})" for k in differ)
        raise BenchError(
            f"--resume: editor {name} ran in {path.parent} with {detail}; this command configures it differently "
            f"(--editor-args), which would mix two settings in one summary row. Resume with the same --editor-args "
            "or use a new --out."
        )
