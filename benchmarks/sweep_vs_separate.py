"""Benchmark: one ``hneuron-eval sweep`` of K configurations vs K separate ``lm_eval`` runs of the same work.

The sweep loads the model (and indexes lm-eval's tasks) once; separate runs pay both K times.
Each side runs as its own process under GNU time (wall seconds, peak RSS), sweep first, then the
K ``lm_eval --model hneuron-hf`` commands the sweep records as its configurations' model_args.
Also reports the per-document results of both sides as identical or not. Run on an idle machine.

    python benchmarks/sweep_vs_separate.py --model smollm2-135m-instruct \
        --mask masks/smollm2-135m-instruct.hneurons.json --tasks hn_triviaqa --limit 20 \
        --out results/benchmarks/sweep_vs_separate.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _report import emit, timed  # benchmarks/ is on sys.path when a script runs


def per_doc(folder: Path) -> dict:
    """task -> doc_id -> logged responses of every results folder under ``folder``."""
    out: dict = {}
    for path in sorted(folder.rglob("samples_*.jsonl")):
        task = path.name[len("samples_"):].rsplit("_", 1)[0]
        out[task] = {json.loads(line)["doc_id"]: json.loads(line)["resps"] for line in path.read_text().splitlines()}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--mask", required=True)
    p.add_argument("--tasks", required=True)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--alphas", default="0", help="sweep alphas (with --controls 1: baseline, H and one control each)")
    p.add_argument("--controls", type=int, default=1)
    p.add_argument("--batch-size", default="16")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        tmp = Path(tmp)
        sweep_dir = tmp / "sweep"
        sweep = timed([str(bin_dir / "hneuron-eval"), "sweep", "--model", args.model, "--mask", args.mask,
                       "--alphas", args.alphas, "--controls", str(args.controls), "--tasks", args.tasks,
                       "--limit", str(args.limit), "--apply-chat-template", "--batch-size", args.batch_size,
                       "--out", str(sweep_dir)], tmp / "sweep.log")
        configs = sorted(d for d in sweep_dir.iterdir() if (d / "hneuron_sweep.json").is_file())
        separate = []
        for config in configs:
            model_args = json.loads((config / "hneuron_sweep.json").read_text())["model_args"]
            separate.append(timed([str(bin_dir / "lm_eval"), "--model", "hneuron-hf", "--model_args", model_args,
                                   "--tasks", args.tasks, "--limit", str(args.limit), "--apply_chat_template",
                                   "--batch_size", args.batch_size, "--device", "cpu", "--seed", "0",
                                   "--log_samples", "--output_path", str(tmp / "separate" / config.name)],
                                  tmp / f"{config.name}.log"))
        same = all(per_doc(config) == per_doc(tmp / "separate" / config.name) for config in configs)
    total = sum(s["wall_s"] for s in separate)
    emit({
        "model": args.model, "tasks": args.tasks, "limit": args.limit, "configurations": [c.name for c in configs],
        "sweep": sweep, "separate": separate, "separate_wall_s": round(total, 2),
        "wall_ratio_sweep_vs_separate": round(sweep["wall_s"] / total, 3),
        "wall_saved_s": round(total - sweep["wall_s"], 2),
        "peak_rss_ratio_sweep_vs_largest_separate": round(
            sweep["peak_rss_mib"] / max(s["peak_rss_mib"] for s in separate), 3),
        "same_per_document_responses": same,
    }, args.out)


if __name__ == "__main__":
    main()
