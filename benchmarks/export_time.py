"""Benchmark: wall time of ``hneuron-eval export``, and load time of the exported checkpoint vs the source model.

Every round exports the model afresh into a new folder (loading the source, folding,
saving safetensors, config and tokenizer), then loads the exported checkpoint and the
source model (``AutoTokenizer``, then ``AutoModelForCausalLM``, timed apart) in
alternating order, so that drifts in machine load hit both alike, each after a full
garbage collection. Round 0 warms the page cache and is not counted; the files are read
from the page cache in every counted round.

    python benchmarks/export_time.py --model smollm2-135m-instruct --mask masks/smollm2-135m-instruct.hneurons.json \
        --alpha 0 --out results/benchmarks/export_time.json
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _report import emit  # benchmarks/ is on sys.path when a script runs

PARTS = ("tokenizer", "model")


def load_seconds(path: str, dtype: str) -> tuple[float, float]:
    """Seconds to load a checkpoint's tokenizer and its model, as an evaluation harness does."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gc.collect()  # the previous round's models are freed here, not inside the next timed load
    start = time.perf_counter()
    AutoTokenizer.from_pretrained(path)
    middle = time.perf_counter()
    AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return middle - start, time.perf_counter() - middle


def main() -> None:
    import torch

    from hneuron_eval import __version__
    from hneuron_eval.harness.builtin_models import resolve_pretrained
    from hneuron_eval.harness.export import export_folded

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--mask", default="masks/smollm2-135m-instruct.hneurons.json")
    ap.add_argument("--alpha", type=float, default=None, help="default: the mask's own alphas")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    load_before = os.getloadavg()
    source = resolve_pretrained(args.model)
    export_s: list[float] = []
    load_s: dict[str, list[float]] = {f"{c} {part}": [] for c in ("source", "exported") for part in PARTS}
    with tempfile.TemporaryDirectory(prefix="export_time.") as tmp:
        for r in range(args.rounds + 1):  # round 0 warms up and is not counted
            out = Path(tmp) / f"round{r}"
            start = time.perf_counter()
            export_folded(args.model, args.mask, args.alpha, out, dtype=args.dtype)
            seconds = {"export": time.perf_counter() - start}
            paths = {"source": source, "exported": str(out)}
            for name in sorted(paths, reverse=bool(r % 2)):
                for part, t in zip(PARTS, load_seconds(paths[name], args.dtype)):
                    seconds[f"{name} {part}"] = t
            if r:
                export_s.append(seconds["export"])
                for name in load_s:
                    load_s[name].append(seconds[name])
            print(f"round {r}: " + ", ".join(f"{k} {v:.2f}s" for k, v in seconds.items()), file=sys.stderr, flush=True)
            size = sum(f.stat().st_size for f in out.iterdir())
            files = sorted(f.name for f in out.iterdir())
            shutil.rmtree(out)

    for name in ("source", "exported"):
        load_s[f"{name} total"] = [sum(t) for t in zip(*(load_s[f"{name} {part}"] for part in PARTS))]
    median_load = {name: statistics.median(v) for name, v in load_s.items()}
    emit(
        {
            "model": args.model,
            "mask": args.mask,
            "alpha": args.alpha,
            "dtype": args.dtype,
            "rounds": args.rounds,
            "device": "cpu",
            "cpu_count": os.cpu_count(),
            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "hneuron_eval_version": __version__,
            "exported_files": files,
            "exported_bytes": size,
            "median_export_seconds": statistics.median(export_s),
            "median_load_seconds": median_load,
            "load_ratio_exported_vs_source_median_of_paired_rounds": statistics.median(
                e / s for e, s in zip(load_s["exported total"], load_s["source total"])
            ),
            "per_round_seconds": {"export": export_s, **load_s},
        },
        args.out,
    )


if __name__ == "__main__":
    main()
