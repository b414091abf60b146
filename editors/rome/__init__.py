from editors.rome.rome import ROME

__all__ = ["ROME"]
