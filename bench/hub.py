"""When the Hugging Face hub may be used: only when asked for.

Without network, transformers retries a hub name for about a minute before failing, so a mistyped alias
used to cost a minute and end in a vague error. Now a name that is neither an offline alias nor a local
directory fails at once, naming the offline choices and the closest one, unless the hub was asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from bench.errors import BenchError, did_you_mean

_YES = {"1", "true", "yes", "on"}
_NO = {"0", "false", "no", "off"}


def hub_allowed(allow_hub: bool = False) -> bool:
    """True when asked: by the argument (--allow-hub), by BENCH_ALLOW_HUB=1, or by an explicit HF_HUB_OFFLINE=0."""
    if allow_hub or os.environ.get("BENCH_ALLOW_HUB", "").strip().lower() in _YES:
        return True
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _NO


def resolve_source(name: str, known: Iterable[str], what: str, allow_hub: bool = False) -> str:
    """`name` if it is a local directory, or a hub id the hub may be asked for; otherwise a BenchError at once."""
    if Path(name).is_dir() or hub_allowed(allow_hub):
        return name
    raise unknown_name(name, list(known), what)


def unknown_name(name: str, known: list[str], what: str) -> BenchError:
    """The error for a name that is not offline, with a 'did you mean' from the offline names (case-insensitive)."""
    hint = did_you_mean(name, known, n=3)
    return BenchError(
        f"unknown {what} '{name}': it is neither an offline {what} alias nor an existing local directory.{hint} "
        f"Offline {what}s: {', '.join(known)}. To download '{name}' from the Hugging Face hub instead, pass "
        "--allow-hub or set BENCH_ALLOW_HUB=1 (the hub is never tried unless asked for)."
    )
