"""``zoo explain``: attribution maps (Grad-CAM, saliency, integrated gradients by captum) for image and text
classifiers (``attribution``), rendered beside the input as one PNG (``render``)."""

from .attribution import (DEFAULT_METHODS, IMAGE_METHODS, METHOD_TITLES, TEXT_METHODS, Explanation, conv_layer,
                          explain, image_maps, load_model)
from .render import check_out, write_png

__all__ = ["DEFAULT_METHODS", "IMAGE_METHODS", "METHOD_TITLES", "TEXT_METHODS", "Explanation", "check_out",
           "conv_layer", "explain", "image_maps", "load_model", "write_png"]
