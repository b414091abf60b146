"""The unedited model: the floor every editor is compared to."""

from bench.editor import Capabilities, Editor


class NoEdit(Editor):
    name = "noedit"
    capabilities = Capabilities(changes_weights=False, reference=True)

    def edit(self, cases) -> None:
        pass

    def reset(self) -> None:
        pass
