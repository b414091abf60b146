from editors.alphaedit.alphaedit import AlphaEdit, AlphaEditConfig

__all__ = ["AlphaEdit", "AlphaEditConfig"]
