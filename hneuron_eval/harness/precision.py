"""Which dtype a run uses: bfloat16 where the hardware multiplies it fast, float32 elsewhere; a given dtype wins."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from hneuron_eval.errors import HNeuronError

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # the CPU flags of bfloat16 matrix instructions
# Only AMX tiles make bfloat16 products faster than float32 on a CPU. With AVX512-BF16 alone a
# 2048^3 product ran at 138 GFLOP/s in bfloat16 against 257 in float32 (torch 2.13, a 2-core Xeon
# without AMX, 2026-12-02; results/benchmarks/README.md); with AMX at about 2,600 against 400.
FAST_BF16 = "amx_bf16"


class DtypeError(HNeuronError, ValueError):
    """A dtype name the project does not run."""


@dataclass(frozen=True)
class DtypeChoice:
    """The dtype of a run and why it was chosen (recorded next to results)."""

    dtype: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"dtype": self.dtype, "reason": self.reason}


def bf16_units(cpuinfo: str | Path = "/proc/cpuinfo") -> list[str]:
    """The bfloat16 matrix-unit flags this CPU reports (``amx_bf16``, ``avx512_bf16``); [] if none or unknown."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.partition(":")[2].split()}
    return [f for f in BF16_FLAGS if f in flags]


def _on_gpu(device: str | None) -> bool:
    import torch

    return (device is None or str(device).startswith("cuda")) and torch.cuda.is_available()


def choose_dtype(requested: str | None, device: str | None = "cpu") -> DtypeChoice:
    """``requested`` when given (checked); else bfloat16 on a GPU or a CPU with AMX, else float32."""
    if requested is not None:
        if requested not in DTYPES:
            raise DtypeError(f"dtype: expected one of {', '.join(DTYPES)}, got {requested!r}")
        if requested == "bfloat16" and not _on_gpu(device) and FAST_BF16 not in bf16_units():
            logger.warning("dtype=bfloat16 on a CPU without AMX (%s): it runs, but slower than float32",
                           FAST_BF16)
        return DtypeChoice(requested, "given")
    if _on_gpu(device):
        import torch

        if torch.cuda.is_bf16_supported():
            return DtypeChoice("bfloat16", "GPU with bfloat16")
        return DtypeChoice("float32", "GPU without bfloat16")
    units = bf16_units()
    if FAST_BF16 in units:
        return DtypeChoice("bfloat16", f"CPU with bfloat16 matrix units ({', '.join(units)})")
    if units:
        return DtypeChoice("float32", f"CPU with {', '.join(units)} but no AMX: bfloat16 would be slower")
    return DtypeChoice("float32", "CPU without bfloat16 matrix units (amx_bf16, avx512_bf16)")
