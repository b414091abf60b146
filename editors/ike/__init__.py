"""IKE: in-context knowledge editing with retrieved demonstrations."""

from editors.ike.demos import case_demos, demo, fact_block
from editors.ike.editor import IKE, IKEConfig
from editors.ike.store import DemoStore, cached_embeddings

__all__ = ["IKE", "DemoStore", "IKEConfig", "cached_embeddings", "case_demos", "demo", "fact_block"]
