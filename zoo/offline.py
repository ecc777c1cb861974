"""Offline switches and the settings the wrapped libraries need to stay off the network.

ZOO_OFFLINE=1 (or HF_HUB_OFFLINE=1) makes every weight or dataset that is not already cached a one-line
error naming the command to run on a connected machine; nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def is_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("ZOO_OFFLINE", "HF_HUB_OFFLINE"))


def zoo_cache_dir() -> Path:
    """zoo's own cache ($ZOO_CACHE, else ~/.cache/zoo)."""
    return Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo"))


def configure_ultralytics() -> None:
    """Before importing ultralytics: no auto-install, no font download, no settings sync.

    ultralytics downloads Arial.ttf into its config dir on first plot; we give it a config dir that
    already holds a font (matplotlib's DejaVuSans, copied under the names it looks for).
    """
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    if is_offline():
        os.environ.setdefault("YOLO_OFFLINE", "1")
    cfg = Path(os.environ.setdefault("YOLO_CONFIG_DIR", str(zoo_cache_dir() / "ultralytics")))
    cfg.mkdir(parents=True, exist_ok=True)
    import matplotlib  # deferred: only the ultralytics builder needs its font; `import zoo` must stay light

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not (cfg / name).exists() and font.exists():
            shutil.copyfile(font, cfg / name)
