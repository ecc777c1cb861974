"""What the CPU's instruction set allows, for the choice of candidates and for the row's own words.

The same CPU model name has come here with AVX2 only or with AVX-512 VNNI + bf16, and that decides INT8 and
bf16 (PERF-NOTES): INT8 GEMMs run on VNNI (``avx512_vnni`` / ``avx_vnni`` / AMX) or, without it, through
AVX2's VPMADDUBSW (u8 x s8 -> s16 pairs, about half the rate); bf16 runs natively only with ``avx512_bf16``
or AMX, and oneDNN's emulation elsewhere is slower than fp32. ``--backend auto`` therefore drops bf16
candidates on a CPU without native bf16, and every speed row of a lower-precision pick says which ISA
limited it. An unknown ISA (not Linux, flags unreadable) limits nothing and is said as unknown.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ...results import machine_info

INT8_NATIVE = ("avx512_vnni", "avx_vnni", "amx_int8")
BF16_NATIVE = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's flags that matter here (from the machine record, else /proc/cpuinfo); None when unknown."""
    isa = machine_info().get("isa")
    if isa is not None:
        return frozenset(isa)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def native_bf16(flags: frozenset[str] | None = None) -> bool | None:
    flags = cpu_flags() if flags is None else flags
    return None if flags is None else any(f in flags for f in BF16_NATIVE)


def native_int8(flags: frozenset[str] | None = None) -> bool | None:
    flags = cpu_flags() if flags is None else flags
    return None if flags is None else any(f in flags for f in INT8_NATIVE)


def isa_flags(dtype: str, device: str, flags: frozenset[str] | None = None) -> list[str]:
    """Row flags naming the ISA limit of a configuration of ``dtype`` on ``device`` (CPU only)."""
    if str(device).startswith("cuda") or dtype not in ("int8", "bf16"):
        return []
    flags = cpu_flags() if flags is None else flags
    if flags is None:
        return [f"isa unknown: whether {dtype} runs natively on this CPU was not read"]
    if dtype == "int8" and not native_int8(flags):
        how = "AVX2 VPMADDUBSW" if "avx2" in flags else "no SIMD int8 dot product"
        return [f"isa-limited: int8 without VNNI ({how}); a VNNI or AMX CPU runs the same model faster"]
    if dtype == "bf16" and not native_bf16(flags):
        return ["isa-limited: bf16 without avx512_bf16/AMX (emulated by oneDNN)"]
    return []
