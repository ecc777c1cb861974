"""Speed backends: one module per backend in this package, registered by name.

    @register_backend
    class OpenVino(Backend):
        name = "openvino"
        capabilities = Capabilities(devices=("cpu",), dtypes=("fp32", "bf16"))
        def prepare(self, model, config, device, example_inputs) -> Prepared: ...
        def auto_configs(self, ctx) -> list[BackendConfig]: ...   # optional: what --backend auto tries

Adding a backend is adding such a module here: the modules are discovered (as zoo's commands are), so
``zoo bench --backend NAME``, its help text and the ``--backend auto`` candidates pick it up. ``auto`` asks
only the backends whose capabilities match the device, dtype and task, in ascending ``priority``.
CUDA graphs are an option of the PyTorch backends (``BackendConfig.cuda_graphs``), not a backend.

Static quantization needs calibration data: a backend whose ``needs_calibration(config)`` is true gets
``calibration=`` (zoo.harness.backends.calibration: real items of the model's task data, seeded) from ``prepare``;
the others are called as before. int8 configurations (openvino, onnxruntime ``--dtype int8``) and bf16 ones
are picked by ``--backend auto`` only within the accuracy budget (zoo.harness.speed.accuracy_budget).
PT2E INT8 (torch.ao's X86InductorQuantizer + compile) is not here: torch 2.14.1 no longer ships
``torch.ao.quantization.quantize_pt2e`` or ``torch.ao.quantization.quantizer`` (moved to torchao, not a
dependency).

This package's top imports nothing heavy: the registry (``registry``, which imports torch) and the names it
exports load on first use, so ``zoo.harness.backends.catalog`` (the backends' names and dtypes, read from
source) serves ``zoo bench`` / ``zoo eval``'s options and argument checks without torch.
"""

from __future__ import annotations

from pathlib import Path

from ...lazy import lazy_getattr
from .catalog import AUTO

__all__ = [
    "AUTO",
    "BASELINE",
    "DTYPES",
    "AutoContext",
    "Backend",
    "BackendConfig",
    "Calibration",
    "Capabilities",
    "Prepared",
    "accuracy_checked",
    "auto_candidates",
    "backend_dtypes",
    "bf16_supported",
    "check_backend",
    "explicit_config",
    "isa_flags",
    "get_backend",
    "list_backends",
    "make_to_inputs",
    "outputs_to_fp32",
    "prepare",
    "register_backend",
]


_HOMES = {**dict.fromkeys(("DTYPES", "AutoContext", "Backend", "BackendConfig", "Capabilities", "Prepared",
                            "bf16_supported", "make_to_inputs", "outputs_to_fp32"), "_base"),
          "Calibration": "calibration", "isa_flags": "isa"}
__getattr__ = lazy_getattr(__name__, Path(__file__).parent,
                           {name: _HOMES.get(name, "registry") for name in __all__ if name != "AUTO"})
