"""knowledge-edit-bench: `python -m bench ...` (README), or from Python `bench.evaluate`, `bench.edit`,
`bench.load_run`, `bench.editor_args` and their `bench.Results` (bench/api.py), imported on first use so
`import bench` stays light."""

__all__ = ["EditedModel", "Results", "edit", "editor_args", "evaluate", "load_run"]


def __getattr__(name: str):
    if name in __all__:
        from bench import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
