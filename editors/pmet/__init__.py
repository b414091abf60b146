from editors.pmet.pmet import PMET, PMETConfig

__all__ = ["PMET", "PMETConfig"]
