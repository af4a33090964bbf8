"""The precision bulk inference runs in (active learning's passes, the eval's generations).

bfloat16 is several times faster than float32 where the hardware multiplies it natively (Intel AMX,
AVX-512 BF16, recent GPUs) and several times slower where it is emulated: on an AVX2-only CPU a bfloat16
Linear took 7x the float32 time. `auto`, the default, picks bfloat16 only on hardware of the first kind.
"""

from __future__ import annotations

from typing import Any, Literal

Precision = Literal["auto", "float32", "bfloat16"]


def choose_precision(requested: str, native_bfloat16: bool) -> str:
    """The dtype to run in: `requested`, with `auto` resolved by whether bfloat16 is native here."""
    if requested == "auto":
        return "bfloat16" if native_bfloat16 else "float32"
    return requested


def native_bfloat16(device: str = "cpu") -> bool:
    """Whether `device` multiplies bfloat16 in hardware (torch's own CPU feature checks)."""
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private, hence getattr
    return any(bool(getattr(torch.cpu, check, lambda: False)()) for check in checks)


def resolve_precision(requested: str, model: Any = None) -> str:
    """`requested` for `model`'s device (CPU when no model is given)."""
    if requested != "auto":
        return requested
    device = str(getattr(model, "device", "cpu"))
    return choose_precision(requested, native_bfloat16(device))
