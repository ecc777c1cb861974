"""The GPU suite (``zoo bench --suite gpu``): every GPU row in one bounded run (``gpu``), including the
end-to-end detection pipeline on the device (``e2e``)."""

from . import gpu

__all__ = ["gpu"]
