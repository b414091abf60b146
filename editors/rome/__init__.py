from editors.rome.rome import ROME, ROMEConfig

__all__ = ["ROME", "ROMEConfig"]
