from editors.emmet.emmet import EMMET, EMMETConfig

__all__ = ["EMMET", "EMMETConfig"]
