"""User-facing errors: the CLI prints these as one paragraph, without a traceback."""

import difflib
from collections.abc import Callable, Iterable


class BenchError(Exception):
    """An error the user can fix (bad input, unknown name, missing file)."""


class DataError(BenchError):
    """A malformed or missing dataset file; the message names file, record and field."""

    def __init__(self, path, message: str, index: int | None = None, field: str | None = None):
        where = f"{path}"
        if index is not None:
            where += f", record {index}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")
        self.path, self.index, self.field = path, index, field


def did_you_mean(name: str, known: Iterable[str], n: int = 1, cutoff: float = 0.6,
                 shown: Callable[[str], str] = str) -> str:
    """" Did you mean 'a' or 'b'?" for the known names closest to `name` (case-insensitive), else "" (the one
    suggestion of every unknown-name error: models, encoders, editors, datasets)."""
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=cutoff)
    return f" Did you mean {' or '.join(repr(shown(by_lower[c])) for c in close)}?" if close else ""
