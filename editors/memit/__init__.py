from editors.memit.memit import MEMIT, MEMITConfig

__all__ = ["MEMIT", "MEMITConfig"]
