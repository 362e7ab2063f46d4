"""Benchmark: float32 against the dtype policy's choice on this machine, back to back on the same work.

    python benchmarks/dtype_speed.py --out results/benchmarks/dtype_speed.json [--work NAME ...] [--limit 100]

Work (each run as its own process under GNU time, float32 first, then the policy's dtype):
- ``smollm2-chat``: ``lm_eval --model hneuron-hf`` on SmolLM2-135M-Instruct, ``--tasks hneuron``, chat
  template, batch 64;
- ``gemma-fewshot``: the same on Gemma-3-270M (base, few-shot prompts), batch 16;
- ``sweep``: ``hneuron-eval sweep`` of 3 configurations (baseline, H-neurons at alpha 0, one control)
  on SmolLM2, ``hn_triviaqa,hn_selfaware``, then ``hneuron-eval leaderboard`` of it;
- ``sampling``: identification's ``sample`` stage, SmolLM2, 500 training (``--questions``) and 50 test
  questions, 2 samples each.

Reported per dtype: wall seconds, peak RSS, generated tokens and tokens/s, the useful share of decode
steps (lm-eval runs: each row's response tokens over the steps its static batch ran, batches rebuilt
as HFLM builds them from the logged requests), and the task metrics; per work item the ratio and
whether every metric stays within one float32 standard error (and, for the sweep, whether the same
leaderboard cells are significant). Finished items are kept in ``--out``: running again resumes
(``--fresh`` measures everything again).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from _report import emit, timed  # benchmarks/ is on sys.path when a script runs

from hneuron_eval.harness.precision import choose_dtype
from hneuron_eval.identify.jsonl import read_records

BIN = Path(sys.executable).parent
SMOL, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"


def lm_eval_cmd(model: str, dtype: str, limit: int, batch: int, chat: bool, out: Path) -> list[str]:
    return [str(BIN / "lm_eval"), "--model", "hneuron-hf", "--model_args", f"pretrained={model},dtype={dtype}",
            "--tasks", "hneuron", "--limit", str(limit), "--batch_size", str(batch), "--device", "cpu",
            "--seed", "0", "--log_samples", "--output_path", str(out), *(["--apply_chat_template"] if chat else [])]


def tokens_and_useful_share(folder: Path, model: str, batch: int) -> tuple[int, float]:
    """(response tokens, useful share of decode steps) of every logged generation under ``folder``."""
    from transformers import AutoTokenizer

    from hneuron_eval.harness.builtin_models import resolve_pretrained

    tok = AutoTokenizer.from_pretrained(resolve_pretrained(model))
    groups: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for path in folder.rglob("samples_*.jsonl"):
        for line in path.read_text(encoding="utf-8").split("\n"):  # not splitlines(): texts may hold U+2028
            if not line.strip():
                continue
            sample = json.loads(line)
            args = sample["arguments"]["gen_args_0"]
            context, kwargs = args["arg_0"], args["arg_1"]
            budget = int(kwargs.get("max_gen_toks", 256))
            # the stop token is generated too, unless the answer ran to the budget
            n = min(budget, len(tok(sample["resps"][0][0], add_special_tokens=False)["input_ids"]) + 1)
            groups[json.dumps(kwargs, sort_keys=True)].append((-len(tok(context)["input_ids"]), context, n))
    used = steps = 0
    for rows in groups.values():
        rows.sort(key=lambda r: (r[0], r[1]))  # HFLM's order: longest prompt first, then the text
        for i in range(0, len(rows), batch):
            lengths = [n for _, _, n in rows[i:i + batch]]
            used, steps = used + sum(lengths), steps + len(lengths) * max(lengths)
    return used, (used / steps if steps else float("nan"))


def task_metrics(folder: Path) -> dict[str, dict[str, list[float | None]]]:
    """task -> metric -> [value, stderr] from the results JSON under ``folder``."""
    data = json.loads(next(folder.rglob("results_*.json")).read_text(encoding="utf-8"))
    out: dict[str, dict[str, list[float | None]]] = {}
    for task, values in data["results"].items():
        for key, value in values.items():
            name, _, filt = key.partition(",")
            if filt and not name.endswith("_stderr") and isinstance(value, (int, float)):
                stderr = values.get(f"{name}_stderr,{filt}")
                out.setdefault(task, {})[name] = [value, stderr if isinstance(stderr, (int, float)) else None]
    return out


def within_one_se(ref: dict, other: dict) -> dict:
    """Metrics of ``other`` more than one of ``ref``'s standard errors from ``ref`` (and how many were compared)."""
    outside, compared = [], 0
    for task, metrics in ref.items():
        for name, (value, stderr) in metrics.items():
            if stderr is None or name not in other.get(task, {}):
                continue
            compared += 1
            if abs(other[task][name][0] - value) > stderr:
                outside.append(f"{task}/{name}: {value:.4f} -> {other[task][name][0]:.4f} (se {stderr:.4f})")
    return {"compared": compared, "outside_one_se": outside}


def significant_cells(board: Path) -> list[str]:
    lines = (board / "leaderboard.csv").read_text(encoding="utf-8").splitlines()
    rows = csv.DictReader(line for line in lines if not line.startswith("#"))
    return sorted(f"{r['intervention']}|{r['task']}/{r['metric']}" for r in rows if r["significant"] == "True")


def run_item(name: str, dtype: str, work: Path, limit: int, questions: int) -> dict:
    out = work / f"{name}-{dtype}"
    log = work / f"{name}-{dtype}.log"
    if name in ("smollm2-chat", "gemma-fewshot"):
        model, batch, chat = (SMOL, 64, True) if name == "smollm2-chat" else (GEMMA, 16, False)
        result = timed(lm_eval_cmd(model, dtype, limit, batch, chat, out), log)
        tokens, useful = tokens_and_useful_share(out, model, batch)
        return {**result, "generated_tokens": tokens, "tokens_per_s": round(tokens / result["wall_s"], 1),
                "useful_decode_share": round(useful, 4), "metrics": task_metrics(out)}
    if name == "sweep":
        result = timed([str(BIN / "hneuron-eval"), "sweep", "--model", SMOL, "--mask", f"masks/{SMOL}.hneurons.json",
                        "--alphas", "0", "--controls", "1", "--tasks", "hn_triviaqa,hn_selfaware", "--limit",
                        str(limit), "--apply-chat-template", "--batch-size", "64", "--dtype", dtype, "--out",
                        str(out)], log)
        timed([str(BIN / "hneuron-eval"), "leaderboard", str(out), "--out", str(work / f"board-{dtype}"),
               "--no-plots", "--force"], work / f"board-{dtype}.log")
        tokens, useful = tokens_and_useful_share(out, SMOL, 64)
        return {**result, "generated_tokens": tokens, "tokens_per_s": round(tokens / result["wall_s"], 1),
                "useful_decode_share": round(useful, 4), "metrics": task_metrics(out / "baseline"),
                "significant_cells": significant_cells(work / f"board-{dtype}")}
    result = timed([str(BIN / "hneuron-eval"), "sample", "--model", SMOL, "--out", str(out), "--questions",
                    str(questions), "--samples", "2", "--test-questions", "50", "--max-new-tokens", "24",
                    "--batch-size", "32", "--min-per-class", "1", "--dtype", dtype], log)
    records = [r for path in sorted((out / "samples").glob("*.jsonl")) for r in read_records(path)]
    labels: dict[str, int] = defaultdict(int)
    for record in records:
        labels[record.get("label", "?")] += 1
    tokens = sum(len(r["ids"]) for record in records for r in record["responses"])
    return {**result, "questions": len(records), "generated_tokens": tokens,
            "tokens_per_s": round(tokens / result["wall_s"], 1), "labels": dict(sorted(labels.items()))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", nargs="+", default=["smollm2-chat", "sweep", "sampling", "gemma-fewshot"],
                   choices=["smollm2-chat", "sweep", "sampling", "gemma-fewshot"])
    p.add_argument("--limit", type=int, default=100, help="documents per task (lm-eval --limit)")
    p.add_argument("--questions", type=int, default=500, help="training questions of the sampling item")
    p.add_argument("--keep", default=None, help="folder for the runs (default: a temporary one, removed)")
    p.add_argument("--fresh", action="store_true", help="measure every item again, ignoring those in --out")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    policy = choose_dtype(None, "cpu")
    resume = args.out and Path(args.out).is_file() and not args.fresh
    done = json.loads(Path(args.out).read_text(encoding="utf-8"))["work"] if resume else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in args.work:
            if name in done:
                continue
            item = {dtype: run_item(name, dtype, work, args.limit, args.questions)
                    for dtype in ("float32", policy.dtype)}
            ref, new = item["float32"], item[policy.dtype]
            item["speedup"] = round(ref["wall_s"] / new["wall_s"], 3)
            if "metrics" in ref:
                item["metrics_vs_float32"] = within_one_se(ref["metrics"], new["metrics"])
            if "significant_cells" in ref:
                item["same_significant_cells"] = ref["significant_cells"] == new["significant_cells"]
            done[name] = item
            emit({"policy": policy.to_dict(), "limit": args.limit, "questions": args.questions, "work": done},
                 args.out)


if __name__ == "__main__":
    main()
