"""Prediction for users: what ``predict`` accepts (``items``), what it returns (``results``), and the runtime
that serves an exported folder without torch (``runtime``: ``zoo.load(EXPORT_DIR)``).

Torch-free and below the model layer: ``zoo.models.base.ZooModel.predict`` and the export runtime share it.
"""

from .items import expand, input_kind
from .results import (
           Answer,
           Box,
           Classification,
           Detection,
           Result,
           Scored,
           Text,
           to_result,
)

__all__ = ["Answer", "Box", "Classification", "Detection", "Result", "Scored", "Text", "expand", "input_kind",
           "to_result"]
