"""``zoo export``: a folder to ship (artifact, preprocessing and labels, model card), served by
``zoo.prediction.runtime`` without torch. ``writer`` assembles it (and the warm copy ``zoo predict`` keeps),
``artifact`` writes the graph and its config, ``card`` the model card. Names load on first use
(``zoo.lazy``): importing the package costs nothing until an export is written."""

from pathlib import Path

from ...lazy import lazy_getattr

_EXPORTS = {**dict.fromkeys(("CARD_JSON", "CARD_MD"), "card"),
            **dict.fromkeys(("AUTO", "EXPORT_BACKENDS", "candidates", "export_model", "write_warm_copy"), "writer")}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, Path(__file__).parent, _EXPORTS)  # torch loads with the first name used
