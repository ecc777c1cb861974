"""``zoo export``: a folder to ship (artifact, preprocessing and labels, model card), served by
``zoo.prediction.runtime`` without torch. ``writer`` assembles it, ``artifact`` writes the graph and its
config, ``card`` the model card."""

from .card import CARD_JSON, CARD_MD
from .writer import AUTO, EXPORT_BACKENDS, candidates, export_model

__all__ = ["AUTO", "CARD_JSON", "CARD_MD", "EXPORT_BACKENDS", "candidates", "export_model"]
