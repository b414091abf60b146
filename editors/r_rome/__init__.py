from editors.r_rome.r_rome import RROME, RROMEConfig

__all__ = ["RROME", "RROMEConfig"]
