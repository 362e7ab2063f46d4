"""Which dtype a run uses: bfloat16 where the hardware multiplies it fast, float32 elsewhere; a given dtype wins."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from hneuron_eval.core.fileio import write_json_atomic
from hneuron_eval.errors import HNeuronError
from hneuron_eval.harness.cache import cache_root

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # the CPU flags of bfloat16 matrix instructions
# AMX tiles make bfloat16 products much faster than float32 (2048^3: about 2,600 against 400 GFLOP/s).
# AVX512-BF16 alone can go either way: 138 against 257 on a 2-core Xeon, 360 against 155 on a 2-core
# AMD EPYC (torch 2.13, 2026-12-02 and 12-03; results/benchmarks/README.md). So without AMX the
# rates are measured once per machine and bfloat16 is taken only when clearly faster.
FAST_BF16 = "amx_bf16"
PROBE_N = 1024  # the side of the probe's matrix product (2 GFLOP: tens of milliseconds)
BF16_FASTER = 1.25  # without AMX, bfloat16 needs this many times float32's measured product rate
PROBE_FILE = "bf16_probe.json"  # in the model cache: one entry per CPU, torch version and thread count


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


def _cpu_name(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown CPU"
    return next((line.partition(":")[2].strip() for line in text.splitlines() if line.startswith("model name")),
                "unknown CPU")


def product_rate(dtype: str, n: int, rounds: int = 5) -> float:
    """GFLOP/s of an n^3 matrix product in ``dtype`` on this CPU (best of ``rounds`` after a warm-up)."""
    import torch

    a = torch.randn(n, n, dtype=getattr(torch, dtype))
    b = torch.randn(n, n, dtype=getattr(torch, dtype))
    a @ b  # warm-up: kernel selection, page faults
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return round(2 * n**3 / best / 1e9, 1)


def product_rates(n: int = PROBE_N) -> dict[str, float]:
    """GFLOP/s of an n^3 product in float32 and bfloat16 here: measured once per CPU, torch and thread count."""
    import torch

    key = f"{_cpu_name()} | torch {torch.__version__} | {torch.get_num_threads()} threads | {n}^3"
    path = cache_root() / PROBE_FILE
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    rates = known.get(key) if isinstance(known, dict) else None
    if isinstance(rates, dict) and all(isinstance(rates.get(d), (int, float)) for d in ("float32", "bfloat16")):
        return rates
    rates = {dtype: product_rate(dtype, n) for dtype in ("float32", "bfloat16")}
    logger.info("%s: measured %s GFLOP/s float32, %s bfloat16", key, rates["float32"], rates["bfloat16"])
    try:
        write_json_atomic(path, {**(known if isinstance(known, dict) else {}), key: rates})
    except OSError as exc:  # a read-only cache: measured again next time
        logger.debug("could not keep the bfloat16 probe in %s: %s", path, exc)
    return rates


def _measured_fast() -> bool:
    """Whether bfloat16 products beat float32 here clearly enough (AVX512-BF16 without AMX)."""
    rates = product_rates()
    return rates["bfloat16"] >= BF16_FASTER * rates["float32"]


def _on_gpu(device: str | None) -> bool:
    import torch

    return (device is None or str(device).startswith("cuda")) and torch.cuda.is_available()


def choose_dtype(requested: str | None, device: str | None = "cpu") -> DtypeChoice:
    """``requested`` when given (checked); else bfloat16 on a GPU, a CPU with AMX or a CPU measured fast in it."""
    if requested is not None:
        if requested not in DTYPES:
            raise DtypeError(f"dtype: expected one of {', '.join(DTYPES)}, got {requested!r}")
        if requested == "bfloat16" and not _on_gpu(device):
            units = bf16_units()
            if FAST_BF16 not in units and not (units and _measured_fast()):
                logger.warning("dtype=bfloat16 on a CPU without AMX (%s) and not measured faster in it: it runs, "
                               "but slower than float32", FAST_BF16)
        return DtypeChoice(requested, "given")
    if _on_gpu(device):
        import torch

        if torch.cuda.is_bf16_supported():
            return DtypeChoice("bfloat16", "GPU with bfloat16")
        return DtypeChoice("float32", "GPU without bfloat16")
    units = bf16_units()
    if FAST_BF16 in units:
        return DtypeChoice("bfloat16", f"CPU with bfloat16 matrix units ({', '.join(units)})")
    if units and _measured_fast():
        return DtypeChoice("bfloat16", f"CPU with {', '.join(units)} but no AMX, measured faster in bfloat16")
    if units:
        return DtypeChoice("float32", f"CPU with {', '.join(units)} but no AMX: bfloat16 would be slower")
    return DtypeChoice("float32", "CPU without bfloat16 matrix units (amx_bf16, avx512_bf16)")
