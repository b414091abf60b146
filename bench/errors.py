"""User-facing errors: the CLI prints these as one paragraph, without a traceback."""


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
